"""The compiled step loops (kernels/native.py) equal the torch loops; building them is optional."""
import pytest
import torch

import rnnkit
from rnnkit.kernels import native, run_cell

from kernelcases import (LENGTHS, VARIANT_IDS, VARIANTS, I, grads_of, loss_weights, make_cell, random_state,
                         recurrent_mask, use_engine, weighted_loss)


def run(kind, options, engine, monkeypatch, dtype, hidden_size=20, input_size=I, lengths=LENGTHS):
    """Outputs and gradients of a training run (lengths, recurrent dropout, zoneout) on one engine."""
    use_engine(engine, monkeypatch)
    torch.manual_seed(3)
    cell = make_cell(kind, options, dtype=dtype, input_size=input_size, hidden_size=hidden_size)
    batch = len(lengths)
    x = torch.randn(batch, max(lengths), cell.input_size, dtype=dtype, requires_grad=True)
    state = random_state(cell, batch=batch)
    mask = recurrent_mask(cell, dtype, batch=batch)
    torch.manual_seed(4)
    y, final = run_cell(cell, x, state, torch.tensor(lengths), recurrent_mask=mask, zoneout=0.25, training=True)
    grads = grads_of(weighted_loss(y, final, loss_weights(y, final)), cell, x, state)
    return y, grads


@pytest.mark.parametrize("kind,options", VARIANTS, ids=VARIANT_IDS)
def test_native_float32_loops_equal_torch_loops(kind, options, monkeypatch):
    use_engine("native", monkeypatch)                       # waits for the session's build
    y_native, g_native = run(kind, options, "native", monkeypatch, torch.float32)
    y_torch, g_torch = run(kind, options, "torch", monkeypatch, torch.float32)
    torch.testing.assert_close(y_native, y_torch, atol=1e-5, rtol=0)
    for name, want in g_torch.items():                     # float32 sums: tolerance per tensor scale
        torch.testing.assert_close(g_native[name], want, atol=1e-5 * (1.0 + want.abs().max().item()), rtol=0,
                                   msg=name)


def test_a_step_splits_its_rows_over_torchs_threads(monkeypatch, two_threads):
    """With two intra-op threads a step big enough runs on both (the loops must share torch's OpenMP
    runtime: compiled without it, at::parallel_for runs on one thread), a small one on one."""
    use_engine("native", monkeypatch)
    loops = native.load(build=False)
    assert loops.step_threads(32, 1 << 18) == 2
    assert loops.step_threads(32, 1 << 10) == 1             # too little work to fork for
    assert loops.step_threads(1, 1 << 24) == 1              # one row: the product splits its panels instead
    torch.set_num_threads(1)
    assert loops.step_threads(32, 1 << 18) == 1


SPLIT_VARIANTS = [("lstm", {"peephole": True}), ("lstm", {"layer_norm": True, "peephole": True}),
                  ("lstm", {"layer_norm": True, "proj_size": 24}), ("lstm", {"coupled": True}),
                  ("gru", {"layer_norm": True}), ("gru", {"reset_after": False}), ("srn", {})]


@pytest.mark.parametrize("kind,options", SPLIT_VARIANTS,
                         ids=[f"{kind}-" + ",".join(f"{k}={v}" for k, v in o.items()) for kind, o in SPLIT_VARIANTS])
def test_steps_split_over_two_threads_equal_the_torch_loops(kind, options, monkeypatch, two_threads):
    """Steps of 32 rows split over two threads (the per-thread sums of the vector parameters' gradients
    included) give the torch loops' values, with lengths, recurrent dropout and zoneout."""
    use_engine("native", monkeypatch)
    assert native.load(build=False).step_threads(32, 4 * 64 * 64) == 2     # this size splits
    split = dict(dtype=torch.float64, hidden_size=64, input_size=8, lengths=[4] * 20 + [3] * 6 + [1] * 6)
    y_native, g_native = run(kind, options, "native", monkeypatch, **split)
    y_torch, g_torch = run(kind, options, "torch", monkeypatch, **split)
    torch.testing.assert_close(y_native, y_torch, atol=1e-12, rtol=0)
    for name, want in g_torch.items():
        torch.testing.assert_close(g_native[name], want, atol=1e-10, rtol=1e-10, msg=name)


def test_native_loops_are_not_used_where_they_do_not_apply(monkeypatch):
    monkeypatch.setenv(native.ENV, "0")
    assert native.loops_for(torch.zeros(1)) is None                        # switched off
    monkeypatch.setenv(native.ENV, "1")
    assert native.loops_for(torch.zeros(1, dtype=torch.float16)) is None   # half precision: torch loops
    assert native.loops_for(torch.zeros(1, device="meta")) is None          # not CPU


def test_a_bad_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv(native.ENV, "yes")
    with pytest.raises(ValueError, match="RNNKIT_NATIVE='yes'"):
        native.loops_for(torch.zeros(1))


class FakeBuild:
    """Stands in for subprocess.Popen: records the command of each background build started."""

    def __init__(self):
        self.commands = []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        return self


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty extension directory and a process that has not chosen its loops yet."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv(native.ENV, raising=False)
    monkeypatch.setattr(native, "_loaded", {})
    build = FakeBuild()
    monkeypatch.setattr(native.subprocess, "Popen", build)
    return build


def test_default_starts_one_background_build_and_keeps_the_torch_loops(fresh_cache):
    assert native.setting() == "auto" and not native.is_built()
    assert native.loops_for(torch.zeros(1)) is None                        # returns at once: torch loops
    assert fresh_cache.commands == [[native.sys.executable, "-m", "rnnkit.kernels.build"]]
    assert native.is_building()
    assert native.build_in_background() is None                            # another process: no second build
    assert len(fresh_cache.commands) == 1


def test_the_process_keeps_its_loops_when_the_build_lands(fresh_cache, monkeypatch):
    """A process's results never change path mid-run: its first kernel call decides."""
    assert native.loops_for(torch.zeros(1)) is None
    monkeypatch.setattr(native, "is_built", lambda: True)                  # the background build finished
    monkeypatch.setattr(native, "_build", lambda: "compiled module")
    assert native.loops_for(torch.zeros(1)) is None                        # still the torch loops here
    monkeypatch.setattr(native, "_loaded", {})                             # a process started afterwards
    assert native.loops_for(torch.zeros(1)) == "compiled module"


def test_a_failed_or_dead_build_is_not_retried_forever(fresh_cache):
    directory = native.build_directory()
    (directory / native.FAILED).write_text("no compiler\n")
    assert native.build_in_background() is None and fresh_cache.commands == []
    (directory / native.FAILED).unlink()
    marker = directory / native.MARKER
    marker.write_text("12345")
    assert native.build_in_background() is None                            # a build is running
    old = native.time.time() - native.STALE_SECONDS - 1
    native.os.utime(marker, (old, old))                                    # ... or died long ago
    native.build_in_background()
    assert len(fresh_cache.commands) == 1


def test_native_build(monkeypatch):
    """The session's background build (tests/conftest.py) lands and a kernel runs through it."""
    use_engine("native", monkeypatch)
    layer = rnnkit.GRU(3, 4, layer_norm=True)
    y, _ = layer(torch.randn(2, 5, 3))
    y.sum().backward()
    assert layer.cells[0].weight_hh.grad is not None


@pytest.mark.parametrize("kind,options", [("LSTM", {"peephole": True}), ("GRU", {"reset_after": False}),
                                          ("SimpleRNN", {"zoneout": 0.1}), ("LSTM", {"layer_norm": True})])
def test_nan_propagates_as_in_the_torch_loops(kind, options, monkeypatch):
    """The fast exponential clamps its input; a NaN must still come out as NaN from its step on."""
    layer = getattr(rnnkit, kind)(3, 4, **options).eval()
    x = torch.randn(2, 5, 3)
    x[0, 2, 1] = float("nan")
    outputs = {}
    for engine in ("torch", "native"):
        use_engine(engine, monkeypatch)
        with torch.no_grad():
            outputs[engine] = layer(x)[0]
    assert torch.isnan(outputs["native"][0, 2:]).all() and not torch.isnan(outputs["native"][0, :2]).any()
    assert not torch.isnan(outputs["native"][1]).any()
    torch.testing.assert_close(outputs["native"], outputs["torch"], equal_nan=True, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind,options", [("LSTM", {"peephole": True}), ("GRU", {"reset_after": False}),
                                          ("SimpleRNN", {"nonlinearity": "softsign", "zoneout": 0.1})])
def test_saturated_activations_match_the_torch_loops(kind, options, monkeypatch):
    """Pre-activations of ±1e4 and ±1e30: the fast reciprocal of 1 + e^{-x} (inf there) must give 0 and
    1, not the NaN of a Newton step on an infinite denominator."""
    layer = getattr(rnnkit, kind)(3, 4, **options).eval()
    x = torch.tensor([[[1e4, -1e4, 5.0]] * 3, [[-1e4, 1e4, -5.0], [1e30, 0.0, 1.0],
                                                [-1e30, 2.0, 0.0]]])
    outputs = {}
    for engine in ("torch", "native"):
        use_engine(engine, monkeypatch)
        with torch.no_grad():
            outputs[engine] = layer(x)[0]
    assert torch.isfinite(outputs["native"]).all()
    torch.testing.assert_close(outputs["native"], outputs["torch"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("options", [{"peephole": True}, {"forget_gate": False}])
def test_the_loops_flush_denormals_and_leave_the_callers_mode(options, monkeypatch):
    """Inputs of about ±1000 saturate an LSTM's gates (sigmoid ≈ 1e-38), and the loops' products fall below the
    smallest normal float: the loops flush them to zero (kernels/csrc/denormals.h: each denormal costs an
    Intel CPU a microcode assist), in what they write forward (outputs, final states) and backward (the
    initial states' gradients) — the torch loops keep some here — and the calling thread's gradual
    underflow is as it was after them."""
    use_engine("native", monkeypatch)
    tiny = torch.finfo(torch.float32).tiny
    torch.manual_seed(0)
    layer = rnnkit.LSTM(8, 16, **options)
    x = torch.randn(4, 50, 8) * 1000
    state = (torch.zeros(1, 4, 16, requires_grad=True), torch.zeros(1, 4, 16, requires_grad=True))
    y, final = layer(x, state)
    (y.sum() + final[0].sum() + final[1].sum()).backward()
    for tensor in (y, *final, *(s.grad for s in state)):      # the gradients of the GEMMs outside may hold some
        assert not ((tensor != 0) & (tensor.abs() < tiny)).any()
    assert (torch.tensor([tiny]) * 0.25).item() != 0.0          # a denormal, as IEEE arithmetic makes it


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "tanh"])
def test_the_loops_activations_over_the_float_range(nonlinearity, monkeypatch):
    """The loops' sigmoid and tanh (one exponential each: kernels/csrc/common.h exp_u20_lanes, ATen's
    exp_u20 restated inline) against torch's over a dense grid of pre-activations and the ends of the
    exponential's clamp (ln FLT_MIN ≈ -87.3, ln FLT_MAX ≈ 88.7), against float64: sigmoid within 1e-6
    relative, tanh within 1e-7 absolute (measured: 3.6e-7 and 3.0e-8 with AVX-512; a polynomial
    coefficient off in its fourth digit fails). Infinities and NaN: the tests around this one."""
    use_engine("native", monkeypatch)
    grid = torch.cat([torch.linspace(-100.0, 100.0, 40_001), torch.tensor(
        [-88.8, -87.4, -87.33, -87.3, 88.7, 88.73, 1e-30, -1e-30, 0.0])])
    width = 16
    grid = torch.cat([grid, grid.new_zeros(-len(grid) % width)]).view(-1, 1, width)       # (T, 1, 16)
    layer = rnnkit.SimpleRNN(width, width, nonlinearity=nonlinearity).eval()
    with torch.no_grad():                                   # h_t = f(x_t I^T + 0 + h_{t-1} 0): f(x_t) exactly
        cell = layer.cells[0]
        cell.weight_ih.copy_(torch.eye(width))
        for name in ("weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).zero_()
        got = layer(grid)[0]
    want = getattr(torch, nonlinearity)(grid.double())
    if nonlinearity == "sigmoid":
        torch.testing.assert_close(got.double(), want, atol=1e-30, rtol=1e-6)
    else:
        torch.testing.assert_close(got.double(), want, atol=1e-7, rtol=0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layer_norm_of_extreme_pre_activations_matches_the_torch_loops(kind, monkeypatch):
    """Inputs from 1e-6 to 1e18 (variances to about 1e36, near float's limit): the loops' one-pass
    statistics (sums shifted by a block's first element) give the torch loops' layer norms to rounding,
    forward and backward."""
    torch.manual_seed(0)
    layer = getattr(rnnkit, kind)(3, 8, layer_norm=True)
    x = torch.tensor([[[1e18, -1e18, 5.0], [1e-6, 0.0, -1e-6], [1e9, 3.0, -2e9]],
                      [[-1e12, 1e12, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    outputs, grads = {}, {}
    for engine in ("torch", "native"):
        use_engine(engine, monkeypatch)
        layer.zero_grad()
        y = layer(x)[0]
        (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
        outputs[engine], grads[engine] = y.detach(), layer.cells[0].weight_hh.grad.clone()
    assert torch.isfinite(outputs["native"]).all() and torch.isfinite(grads["native"]).all()
    torch.testing.assert_close(outputs["native"], outputs["torch"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads["native"], grads["torch"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", [{"peephole": True}, {"proj_size": 7, "coupled": True},
                                     {"recurrent_activation": "hard_sigmoid", "zoneout": 0.2, "forget_bias": 1.0},
                                     {"bias": False, "forget_gate": False}, {"layer_norm": True, "peephole": True}])
def test_inference_projects_the_input_in_the_loop(options, dtype, monkeypatch):
    """Under torch.no_grad() the C++ loop computes x_t W_ih^T + b a few steps at a time (a chunk of
    about 256 rows: 6 steps of 40 rows here, the last chunk short); outputs and final states equal the
    recording path, which takes the projection of all steps made beforehand, with lengths too."""
    from rnnkit.kernels import sequence

    calls = []
    inference = sequence.lstm_inference
    monkeypatch.setattr(sequence, "lstm_inference", lambda *args: calls.append(1) or inference(*args))
    use_engine("native", monkeypatch)
    layer = rnnkit.LSTM(5, 16, **options).to(dtype).eval()
    x = torch.randn(40, 37, 5, dtype=dtype)
    lengths = torch.randint(1, 38, (40,))
    for kwargs in ({}, {"lengths": lengths}):
        with torch.no_grad():
            y, (h, c) = layer(x, **kwargs)
        y_ref, (h_ref, c_ref) = layer(x, **kwargs)
        atol = 1e-5 if dtype == torch.float32 else 1e-12
        for got, want in ((y, y_ref), (h, h_ref), (c, c_ref)):
            torch.testing.assert_close(got, want.detach(), atol=atol, rtol=0)
    assert len(calls) == 2                                     # the no_grad calls took the projecting loop


def test_layer_norm_inference_on_two_threads_equals_the_recording_path(monkeypatch, two_threads):
    """Under torch.no_grad() with two threads (steps of 40 rows split, the input side's layer norm
    taken from each projected chunk) the outputs equal the recording path's."""
    use_engine("native", monkeypatch)
    layer = rnnkit.LSTM(5, 16, layer_norm=True).double().eval()
    x = torch.randn(40, 37, 5, dtype=torch.float64)
    with torch.no_grad():
        y = layer(x)[0]
    torch.testing.assert_close(y, layer(x)[0].detach(), atol=1e-12, rtol=0)


def test_inference_keeps_nothing_for_a_backward(monkeypatch):
    """Under torch.no_grad() the kernels compute no backward factors, though the parameters require
    grad (autograd's ctx.needs_input_grad says True for them even then)."""
    from rnnkit.kernels import lstm as lstm_kernel

    saves = []
    forward = lstm_kernel._torch_forward
    monkeypatch.setattr(lstm_kernel, "_torch_forward", lambda *args: saves.append(args[-1]) or forward(*args))
    use_engine("torch", monkeypatch)
    layer = rnnkit.LSTM(3, 4, peephole=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        y_inference = layer(x)[0]
    y_training = layer(x)[0]
    assert saves == [False, True]
    torch.testing.assert_close(y_inference, y_training, atol=0, rtol=0)
