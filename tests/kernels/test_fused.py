"""Standard configurations run torch's fused ops and compute what the per-step loop computes
(float32, atol 1e-5): outputs, final states and gradients, with lengths, stacking, both directions."""
import pytest
import torch

import rnnkit
from rnnkit import kernels
from rnnkit.cells.base import state_leaves

ATOL = 1e-5
CASES = [
    (rnnkit.LSTM, {}), (rnnkit.LSTM, {"proj_size": 3}), (rnnkit.LSTM, {"bias": False, "forget_bias": 1.0}),
    (rnnkit.LSTM, {"forget_bias": 0.5}), (rnnkit.GRU, {}), (rnnkit.GRU, {"bias": False}),
    (rnnkit.SimpleRNN, {}), (rnnkit.SimpleRNN, {"nonlinearity": "relu"}),
]
IDS = [f"{c.__name__}-{o}" for c, o in CASES]


def run_and_grad(layer, x, state, lengths):
    y, final = layer(x, state, lengths=lengths)
    gen = torch.Generator().manual_seed(3)
    loss = (y * torch.randn(y.shape, generator=gen)).sum()
    loss = loss + sum((s * torch.randn(s.shape, generator=gen)).sum() for s in state_leaves(final))
    inputs = [x, *state_leaves(state), *layer.parameters()]
    return [y, *state_leaves(final), *torch.autograd.grad(loss, inputs)]


@pytest.mark.parametrize("layer_class,options", CASES, ids=IDS)
@pytest.mark.parametrize("stack", ["1-uni", "2-bi"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_fused_path_equals_the_loop(layer_class, options, stack, padded):
    num_layers, bidirectional = (1, False) if stack == "1-uni" else (2, True)
    layer = layer_class(4, 6, num_layers=num_layers, bidirectional=bidirectional, **options)
    assert layer.fast_path.startswith("fused")
    x = torch.randn(3, 5, 4, requires_grad=True)
    template = layer.cells[0].init_state(3)
    count = len(layer.cells)
    parts = [torch.randn(count, *s.shape, requires_grad=True) for s in state_leaves(template)]
    state = rnnkit.LSTMState(*parts) if isinstance(template, tuple) else parts[0]
    lengths = torch.tensor([5, 2, 4]) if padded else None
    fused = run_and_grad(layer, x, state, lengths)
    with kernels.force_loop():
        looped = run_and_grad(layer, x, state, lengths)
    for got, want in zip(fused, looped):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    if padded:
        assert torch.all(fused[0][1, 2:] == 0)                          # zero outputs at padding


@pytest.mark.parametrize("layer_class", [rnnkit.LSTM, rnnkit.GRU], ids=["LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional", [(3, False), (2, True)], ids=["3-uni", "2-bi"])
def test_time_chunks_with_tied_lengths_equal_the_loop(layer_class, num_layers, bidirectional):
    """On CPU lengths run in time chunks between distinct lengths: ties, a length-1 row, rows in any order."""
    layer = layer_class(4, 6, num_layers=num_layers, bidirectional=bidirectional)
    x = torch.randn(9, 7, 4, requires_grad=True)
    template = layer.cells[0].init_state(9)
    parts = [torch.randn(len(layer.cells), *s.shape, requires_grad=True) for s in state_leaves(template)]
    state = rnnkit.LSTMState(*parts) if isinstance(template, tuple) else parts[0]
    lengths = torch.tensor([7, 1, 7, 3, 3, 5, 2, 6, 3])
    fused = run_and_grad(layer, x, state, lengths)
    with kernels.force_loop():
        looped = run_and_grad(layer, x, state, lengths)
    for got, want in zip(fused, looped):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert torch.all(fused[0][1, 1:] == 0) and torch.all(fused[0][3, 3:] == 0)


@pytest.mark.parametrize("layer_class", [rnnkit.LSTM, rnnkit.GRU, rnnkit.SimpleRNN], ids=["LSTM", "GRU", "RNN"])
def test_inference_with_lengths_equals_training_mode_computation(layer_class):
    """Without autograd, lengths take the packed sequence on CPU; with it, time chunks / the gather."""
    layer = layer_class(4, 6, num_layers=2, bidirectional=True).eval()
    x = torch.randn(5, 7, 4)
    lengths = torch.tensor([7, 2, 5, 5, 1])
    y_graph, final_graph = layer(x, lengths=lengths)
    with torch.no_grad():
        y, final = layer(x, lengths=lengths)
    torch.testing.assert_close(y, y_graph, atol=ATOL, rtol=0)
    for got, want in zip(state_leaves(final), state_leaves(final_graph)):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert y_graph.requires_grad and not y.requires_grad


def test_time_major_layout_and_lengths_shorter_than_every_row():
    layer = rnnkit.GRU(4, 6, batch_first=False)
    x = torch.randn(7, 2, 4)                                            # (T, B, I); no row reaches T
    lengths = torch.tensor([3, 5])
    y, h = layer(x, lengths=lengths)
    with kernels.force_loop():
        y_loop, h_loop = layer(x, lengths=lengths)
    torch.testing.assert_close(y, y_loop, atol=ATOL, rtol=0)
    torch.testing.assert_close(h, h_loop, atol=ATOL, rtol=0)
    assert y.shape == (7, 2, 6) and torch.all(y[5:] == 0)


def test_inter_layer_dropout_is_torch_nn_dropout():
    """The fused call is torch.nn's own: with the same seed, the same dropout masks."""
    theirs = torch.nn.LSTM(4, 6, num_layers=3, dropout=0.5, batch_first=True)
    ours = rnnkit.LSTM(4, 6, num_layers=3, dropout=0.5)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 5, 4)
    torch.manual_seed(5)
    y_theirs, _ = theirs(x)
    torch.manual_seed(5)
    y_ours, _ = ours(x)
    torch.testing.assert_close(y_ours, y_theirs, atol=ATOL, rtol=0)
    ours.eval()
    assert not torch.allclose(ours(x)[0], y_ours)                       # training dropped units
