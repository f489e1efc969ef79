"""The BPTT kernels against the NumPy float64 reference: outputs, final states and the gradient of
every parameter, the input and the initial state, with lengths, recurrent dropout and zoneout."""
import numpy as np
import pytest
import torch

from rnnkit import reference
from rnnkit.cells.base import state_leaves
from rnnkit.kernels import run_cell
from rnnkit.kernels.sequence import zoneout_factors

from kernelcases import (B, ENGINES, LENGTHS, REGIMES, T, VARIANT_IDS, VARIANTS, assert_close, grads_of,
                         loss_weights, make_cell, random_state, recurrent_mask, use_engine, weighted_loss)

ATOL = 1e-10


def zoneout_draws(cell, kind, p, seed, order):
    """The draws ``run_cell`` makes in training after ``torch.manual_seed(seed)``: d_h (T, B, R) and,
    for LSTM, d_c (T, B, H), in the kernel's (length-sorted) row order; returned in input row order."""
    torch.manual_seed(seed)
    shapes = [(T, B, cell.output_size)] + ([(T, B, cell.hidden_size)] if kind == "lstm" else [])
    draws = dict(zip("hc", zoneout_factors(p, True, shapes, torch.zeros((), dtype=torch.float64))))
    inverse = torch.argsort(order)
    return {name: d[:, inverse].numpy() for name, d in draws.items()}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("kind,options", VARIANTS, ids=VARIANT_IDS)
def test_kernel_matches_reference(kind, options, regime, engine, monkeypatch):
    use_engine(engine, monkeypatch)
    setup = REGIMES[regime]
    cell = make_cell(kind, options)
    x = torch.randn(B, T, cell.input_size, dtype=torch.float64, requires_grad=True)
    state = random_state(cell)
    lengths = torch.tensor(LENGTHS) if setup["lengths"] else None
    mask = recurrent_mask(cell) if setup["mask"] else None
    p = setup["zoneout"]
    zoneout = None
    if p and setup["training"]:
        order = torch.sort(lengths, descending=True, stable=True)[1] if lengths is not None else torch.arange(B)
        zoneout = zoneout_draws(cell, kind, p, seed=11, order=order)
        torch.manual_seed(11)
    elif p:
        zoneout = {"h": np.full((T, B, cell.output_size), p)}
        if kind == "lstm":
            zoneout["c"] = np.full((T, B, cell.hidden_size), p)

    y, final = run_cell(cell, x, state, lengths, recurrent_mask=mask, zoneout=p, training=setup["training"])
    weights = loss_weights(y, final)
    grads = grads_of(weighted_loss(y, final, weights), cell, x, state)

    params = {name: value.detach().numpy() for name, value in cell.named_parameters()}
    numpy_state = tuple(s.detach().numpy() for s in state_leaves(state))
    options = {k: v for k, v in options.items() if k != "bias"}
    y_ref, final_ref, cache = reference.forward(
        kind, params, x.detach().numpy().transpose(1, 0, 2), numpy_state if kind == "lstm" else numpy_state[0],
        lengths=None if lengths is None else lengths.numpy(), recurrent_mask=None if mask is None else mask.numpy(),
        zoneout=zoneout, **options)
    assert_close(y.transpose(0, 1), y_ref, ATOL, "y")
    for got, want in zip(state_leaves(final), final_ref if kind == "lstm" else (final_ref,)):
        assert_close(got, want, ATOL, "final state")

    Gy, Gf = weights                                         # L = sum(y Gy) + sum(final Gf)
    Gf = tuple(g.numpy() for g in Gf)
    ref_grads = reference.backward(cache, Gy.numpy().transpose(1, 0, 2), Gf if kind == "lstm" else Gf[0])
    ref_grads["x"] = ref_grads["x"].transpose(1, 0, 2)
    assert set(ref_grads) == set(grads)
    for name, grad in grads.items():
        assert_close(grad, ref_grads[name], ATOL, name)
