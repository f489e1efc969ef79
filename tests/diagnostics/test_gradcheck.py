"""Every torch cell and layer against the NumPy reference's hand-derived BPTT (float64).

Outputs, final states and the gradients of every parameter, the input and the initial state
must agree to round-off: the two engines share no code. Both torch paths are checked: the
per-step autograd loop ("loop") and whatever the dispatcher picks ("auto": torch's fused op
for standard cells, the hand-derived BPTT kernels for the variants), the kernels with their step
loops in torch ops and in C++ (every path a process can take).
"""
import pytest

from rnnkit.diagnostics import VARIANTS, check_against_reference, check_textbook_lm
from rnnkit.kernels import native

TIGHT = 1e-10


@pytest.fixture(params=[("auto", "0"), ("auto", "1"), ("loop", "0")],
                ids=["kernels-torch-loops", "kernels-cpp-loops", "loop"])
def path(request, monkeypatch):
    """The torch path under test, with ``RNNKIT_NATIVE`` set for it (the C++ loops: the session's build)."""
    name, setting = request.param
    if setting == "1" and native.wait_for_build(timeout=900) is None:
        pytest.skip("C++ step loops not buildable here: the torch loops run instead")
    monkeypatch.setenv(native.ENV, setting)
    return name


def assert_close(errors: dict[str, float]) -> None:
    bad = {name: error for name, error in errors.items() if not error < TIGHT}
    assert not bad, f"relative errors above {TIGHT:g}: {bad}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
def test_cell_matches_reference(variant, padded, path):
    kind, options = VARIANTS[variant]
    errors = check_against_reference(kind, lengths=padded, path=path, **options)
    assert {"y", "x", "h0", "weight_ih", "weight_hh"} <= set(errors)
    assert_close(errors)


@pytest.mark.parametrize("variant", ["srn-tanh", "lstm", "lstm-everything", "gru", "gru-reset-before"])
def test_bidirectional_matches_reference(variant, path):
    kind, options = VARIANTS[variant]
    errors = check_against_reference(kind, lengths=True, bidirectional=True, batch=4, path=path, **options)
    assert {"fwd.weight_hh", "bwd.weight_hh", "bwd.h0"} <= set(errors)
    assert_close(errors)


@pytest.mark.parametrize("variant", ["srn-tanh", "lstm", "lstm-proj", "gru", "gru-reset-before", "gru-layer-norm"])
def test_recurrent_dropout_mask_matches_reference(variant, path):
    kind, options = VARIANTS[variant]
    assert_close(check_against_reference(kind, lengths=True, recurrent_dropout=0.4, path=path, **options))


@pytest.mark.parametrize("variant", ["srn-tanh", "lstm", "lstm-proj", "gru"])
def test_zoneout_matches_reference(variant, path):
    kind, options = VARIANTS[variant]
    assert_close(check_against_reference(kind, lengths=True, zoneout=0.3, path=path, **options))


def test_textbook_language_model_matches_reference():
    errors = check_textbook_lm()
    assert {"loss", "V", "c", "weight_ih", "weight_hh"} <= set(errors)
    assert_close(errors)


def test_bridge_detects_a_wrong_gradient(monkeypatch):
    """The check can fail: a cell whose forward differs from the reference is caught."""
    import rnnkit.cells.gru as gru

    monkeypatch.setattr(gru.GRUCell, "step", _gru_with_wrong_interpolation)
    errors = check_against_reference("gru", path="loop")
    assert errors["y"] > 1e-3 and errors["weight_hh"] > 1e-3


def _gru_with_wrong_interpolation(self, x_proj, h_prev, recurrent_mask=None):
    gi_r, gi_z, gi_n = x_proj.chunk(3, dim=1)
    gh_r, gh_z, gh_n = self.project_hidden(h_prev).chunk(3, dim=1)
    r, z = self._sigma(gi_r + gh_r), self._sigma(gi_z + gh_z)
    n = self._phi(gi_n + r * gh_n)
    h = z * n + (1.0 - z) * h_prev          # z and 1 - z swapped
    return h, h
