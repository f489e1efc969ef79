"""Variant layers through the BPTT kernels equal the per-step autograd loop, stacked and bidirectional,
with lengths; the kernels are once-differentiable and say so."""
import pytest
import torch

import rnnkit
from rnnkit import kernels
from rnnkit.cells.base import state_leaves

from kernelcases import ENGINES, use_engine

LAYERS = [
    (rnnkit.LSTM, {"peephole": True, "proj_size": 3, "layer_norm": True}),
    (rnnkit.LSTM, {"coupled": True, "recurrent_activation": "hard_sigmoid", "zoneout": 0.2}),
    (rnnkit.GRU, {"reset_after": False, "layer_norm": True}),
    (rnnkit.GRU, {"activation": "softsign", "zoneout": 0.3}),
    (rnnkit.SimpleRNN, {"nonlinearity": "relu", "zoneout": 0.1}),
]


def forward_and_grads(layer, x, state, lengths):
    y, final = layer(x, state, lengths=lengths)
    gen = torch.Generator().manual_seed(1)
    loss = (y * torch.randn(y.shape, generator=gen, dtype=y.dtype)).sum()
    loss = loss + sum((s * torch.randn(s.shape, generator=gen, dtype=s.dtype)).sum() for s in state_leaves(final))
    return [y, *state_leaves(final), *torch.autograd.grad(loss, [x, *state_leaves(state), *layer.parameters()])]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("layer_class,options", LAYERS, ids=[f"{c.__name__}-{o}" for c, o in LAYERS])
def test_stacked_bidirectional_kernel_equals_loop(layer_class, options, engine, monkeypatch):
    use_engine(engine, monkeypatch)
    layer = layer_class(3, 5, num_layers=2, bidirectional=True, dropout=0.0, **options).double().eval()
    assert layer.fast_path.startswith("bptt kernel")
    x = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
    template = layer.cells[0].init_state(4)
    parts = [torch.randn(len(layer.cells), *s.shape, dtype=torch.float64, requires_grad=True)
             for s in state_leaves(template)]
    state = rnnkit.LSTMState(*parts) if isinstance(template, tuple) else parts[0]
    lengths = torch.tensor([6, 1, 4, 3])
    fast = forward_and_grads(layer, x, state, lengths)
    with kernels.force_loop():
        looped = forward_and_grads(layer, x, state, lengths)
    for got, want in zip(fast, looped):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_training_regularisers_draw_fresh_masks_and_keep_units(engine, monkeypatch):
    use_engine(engine, monkeypatch)
    layer = rnnkit.LSTM(3, 5, peephole=True, recurrent_dropout=0.5, zoneout=0.999999)
    x = torch.randn(2, 4, 3)
    y, final = layer(x)                                                # zoneout ~1: every unit keeps h0 = 0
    assert torch.all(y == 0) and torch.all(final.c == 0)
    layer = rnnkit.GRU(3, 5, recurrent_dropout=0.5).train()
    assert not torch.equal(layer(x)[0], layer(x)[0])                   # a new mask per call
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_float32_kernel_equals_loop(engine, monkeypatch):
    use_engine(engine, monkeypatch)
    layer = rnnkit.LSTM(8, 32, peephole=True, layer_norm=True).eval()
    x = torch.randn(5, 9, 8, requires_grad=True)
    state = rnnkit.LSTMState(*(torch.randn(1, 5, 32, requires_grad=True) for _ in range(2)))
    fast = forward_and_grads(layer, x, state, torch.tensor([9, 3, 7, 1, 9]))
    with kernels.force_loop():
        looped = forward_and_grads(layer, x, state, torch.tensor([9, 3, 7, 1, 9]))
    for got, want in zip(fast, looped):                    # float32 sums of ~100 terms: tolerance per tensor scale
        torch.testing.assert_close(got, want, atol=1e-5 * (1.0 + want.abs().max().item()), rtol=0)


def test_double_backward_is_refused_and_the_loop_allows_it():
    layer = rnnkit.GRU(3, 4, reset_after=False).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    y, _ = layer(x)
    with pytest.raises(kernels.DoubleBackwardError, match="double backward"):
        torch.autograd.grad(y.sum(), x, create_graph=True)
    with kernels.force_loop():
        y, _ = layer(x)
        (g,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
        g.sum().backward()                                             # second order through the loop
    assert x.grad is not None


def test_no_grad_forward_saves_nothing_and_matches():
    layer = rnnkit.LSTM(3, 4, coupled=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        y, _ = layer(x)
    assert y.grad_fn is None
    with kernels.force_loop(), torch.no_grad():
        torch.testing.assert_close(y, layer(x)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("layer_class,options", [(rnnkit.LSTM, {"layer_norm": True, "proj_size": 96}),
                                                  (rnnkit.GRU, {"reset_after": False}),
                                                  (rnnkit.SimpleRNN, {"nonlinearity": "softsign"})],
                         ids=["lstm", "gru", "srn"])
def test_products_large_enough_for_onednn_equal_loop(layer_class, options, engine, monkeypatch):
    """B=32, H=128: the step products and weight gradients go through oneDNN where torch has it."""
    use_engine(engine, monkeypatch)
    layer = layer_class(96, 128, **options).eval()
    x = torch.randn(32, 4, 96, requires_grad=True)
    template = layer.cells[0].init_state(32)
    parts = [torch.randn(1, *s.shape, requires_grad=True) for s in state_leaves(template)]
    state = rnnkit.LSTMState(*parts) if isinstance(template, tuple) else parts[0]
    lengths = torch.randint(1, 5, (32,))
    fast = forward_and_grads(layer, x, state, lengths)
    with kernels.force_loop():
        looped = forward_and_grads(layer, x, state, lengths)
    for got, want in zip(fast, looped):
        torch.testing.assert_close(got, want, atol=1e-5 * (1.0 + want.abs().max().item()), rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("layer_class,options", [(rnnkit.LSTM, {"layer_norm": True}),
                                                  (rnnkit.GRU, {"layer_norm": True, "reset_after": False})],
                         ids=["lstm", "gru"])
def test_layer_norm_kernels_at_steps_no_row_reaches(layer_class, options, engine, monkeypatch):
    """Every row shorter than T: the last steps have no active row (a layer norm over 0 rows)."""
    use_engine(engine, monkeypatch)
    layer = layer_class(3, 4, **options).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    template = layer.cells[0].init_state(2)
    parts = [torch.randn(1, *s.shape, dtype=torch.float64, requires_grad=True) for s in state_leaves(template)]
    state = rnnkit.LSTMState(*parts) if isinstance(template, tuple) else parts[0]
    fast = forward_and_grads(layer, x, state, torch.tensor([1, 2]))
    with kernels.force_loop():
        looped = forward_and_grads(layer, x, state, torch.tensor([1, 2]))
    for got, want in zip(fast, looped):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
