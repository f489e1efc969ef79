"""Gradient flow through time: the (t, k) norms against autograd run directly, and the textbook gap."""
import pytest
import torch

import rnnkit
from rnnkit.data.synthetic import SequenceBatch, adding_problem
from rnnkit.diagnostics import gradient_flow
from rnnkit.diagnostics.flow import unroll
from rnnkit.tasks.memory import MemoryModel, MemoryModelConfig


def squared_readout(head):
    return lambda outputs: (outputs @ head - 1.0) ** 2                            # (B, T)


def direct_entry(layer, x, head, t, k, at_layer):
    """mean_b ‖∂ℓ_{b,t}/∂h_{b,k}‖ by autograd on the layer's own forward, restarted at step k + 1.

    ``h_k`` of layer ``at_layer`` is a leaf; in a 2-layer stack the path ``h_k^(0) -> h_k^(1)`` is
    rebuilt with the upper cell called directly, so the derivative is the total one.
    """
    with torch.no_grad():
        _, state = layer(x[:, :k + 1])                                             # (L, B, H)
        _, before = layer(x[:, :k]) if k > 0 else (None, torch.zeros_like(state))
    leaf = state[at_layer].clone().requires_grad_(True)                            # (B, H)
    layers = [leaf if l == at_layer else state[l] for l in range(layer.num_layers)]
    if at_layer == 0 and layer.num_layers == 2:
        _, h_top = layer.cell(1)(leaf, before[1])                                  # h_k^(1)(h_k^(0))
        layers[1] = h_top
    if t == k:
        top = layers[-1]
    else:
        outputs, _ = layer(x[:, k + 1:t + 1], torch.stack(layers))
        top = outputs[:, -1]
    loss = ((top @ head - 1.0) ** 2).sum()
    grad, = torch.autograd.grad(loss, leaf)
    return grad.norm(dim=-1).mean().item()


@pytest.mark.parametrize("make", [
    lambda: rnnkit.SimpleRNN(3, 5, num_layers=2),
    lambda: rnnkit.GRU(3, 5),
], ids=["srn-2-layers", "gru"])
def test_norms_equal_autograd_run_directly(make):
    layer = make().double()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    head = torch.randn(5, dtype=torch.float64)
    flow = gradient_flow(layer, x, squared_readout(head))
    assert flow.norms.shape == (layer.num_layers, 9, 9)
    for at_layer in range(layer.num_layers):
        for t, k in [(8, 0), (8, 5), (6, 6), (4, 1)]:
            expected = direct_entry(layer, x, head, t, k, at_layer)
            assert flow.norms[at_layer, t, k].item() == pytest.approx(expected, rel=1e-9), (at_layer, t, k)
    assert (flow.norms[0].triu(1) == 0).all()


def test_lstm_entry_is_the_gradient_reaching_h_with_c_held():
    layer = rnnkit.LSTM(2, 4, forget_bias=1.0).double()
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    head = torch.randn(4, dtype=torch.float64)
    flow = gradient_flow(layer, x, squared_readout(head))
    with torch.no_grad():
        _, (h, c) = layer(x[:, :3])                                                # after step k = 2: (1, B, H)
    leaf = h.clone().requires_grad_(True)
    outputs, _ = layer(x[:, 3:], rnnkit.LSTMState(leaf, c))
    grad, = torch.autograd.grad(((outputs[:, -1] @ head - 1.0) ** 2).sum(), leaf)  # t = 7
    expected = grad[0].norm(dim=-1).mean().item()                                  # grad[0]: layer 0, (B, H)
    assert flow.norms[0, 7, 2].item() == pytest.approx(expected, rel=1e-9)


def test_by_lag_averages_the_diagonals():
    layer = rnnkit.GRU(2, 3).double()
    flow = gradient_flow(layer, torch.randn(2, 6, 2, dtype=torch.float64), lambda o: o.sum(-1) ** 2)
    curve = flow.by_lag(0)
    norms = flow.norms[0]
    assert curve[2].item() == pytest.approx(sum(norms[t, t - 2].item() for t in range(2, 6)) / 4)
    assert curve[5].item() == pytest.approx(norms[5, 0].item())
    assert flow.relative_by_lag(0)[0].item() == 1.0


def test_unroll_reproduces_the_layer():
    layer = rnnkit.LSTM(3, 4, num_layers=2, proj_size=2)
    x = torch.randn(2, 5, 3)
    expected, _ = layer(x)
    torch.testing.assert_close(unroll(layer, x).outputs, expected)


def test_srn_gradient_at_lag_50_is_orders_of_magnitude_below_the_lstm():
    x, y = adding_problem(8, 60, torch.Generator().manual_seed(0))
    batch = SequenceBatch(x, y)
    lag = {}
    for cell, options in (("srn", {}), ("lstm", {"forget_bias": 1.0})):
        torch.manual_seed(0)
        model = MemoryModel(MemoryModelConfig(2, 1, "regression", cell, 32, cell_options=options))
        flow = gradient_flow(model.rnn, x, lambda outputs: model.step_losses(outputs, batch))
        lag[cell] = (flow.by_lag(0)[50].item(), flow.relative_by_lag(0)[50].item())
    # measured: absolute ~1e-12 vs ~1e-5, relative ~1e-12 vs ~1e-4: seven orders; asserted: four.
    assert lag["srn"][0] < 1e-4 * lag["lstm"][0]
    assert lag["srn"][1] < 1e-4 * lag["lstm"][1]
    assert lag["lstm"][1] > 1e-7


def test_non_finite_gradients_show_as_nan():
    layer = rnnkit.SimpleRNN(2, 3)
    with torch.no_grad():
        layer.cell(0).weight_hh[0, 0] = float("nan")
    flow = gradient_flow(layer, torch.randn(2, 4, 2), lambda o: o.sum(-1))
    assert not flow.is_finite()


@pytest.mark.parametrize("call, message", [
    (lambda: gradient_flow(rnnkit.GRU(2, 3, bidirectional=True), torch.randn(1, 3, 2), lambda o: o.sum(-1)),
     "unidirectional"),
    (lambda: gradient_flow(torch.nn.GRU(2, 3), torch.randn(1, 3, 2), lambda o: o.sum(-1)),
     "expected an rnnkit SimpleRNN / LSTM / GRU or RNN, got GRU"),
    (lambda: gradient_flow(rnnkit.GRU(2, 3), torch.randn(1, 3, 2), lambda o: o.sum()),
     r"step_loss: expected per-step losses of shape \(1, 3\), got \(\)"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
