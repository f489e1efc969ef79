"""DropConnect on the recurrent weights (``weight_drop``): one mask on ``weight_hh`` per call, the path kept,
gradients as the NumPy reference gives them on the masked weight, torch.nn's keys, the raw weight in evaluation."""
import contextlib
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit import kernels, reference

LAYERS = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "srn": rnnkit.SimpleRNN}
TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "srn": torch.nn.RNN}
P = 0.4


def masks_after_seed(layer, seed):
    """The masks ``M / (1 - p)`` the layer draws after ``torch.manual_seed(seed)``: one per cell, in cell order."""
    torch.manual_seed(seed)
    return [F.dropout(torch.ones_like(cell.weight_hh), layer.weight_drop, training=True) for cell in layer.cells]


def with_weights(layer, masks):
    """A copy of ``layer`` without DropConnect whose ``weight_hh`` are the masked weights ``W * M / (1 - p)``."""
    masked = copy.deepcopy(layer)
    masked.weight_drop = 0.0
    with torch.no_grad():
        for cell, mask in zip(masked.cells, masks):
            cell.weight_hh.mul_(mask)
    return masked


@pytest.mark.parametrize("kind", list(LAYERS))
def test_weight_drop_keeps_the_fused_path_and_the_torch_nn_keys(kind):
    layer = LAYERS[kind](3, 5, num_layers=2, bidirectional=True, weight_drop=P).train()
    assert layer.fast_path.startswith("fused")
    plain = TORCH[kind](3, 5, num_layers=2, bidirectional=True, batch_first=True)
    assert list(layer.state_dict()) == list(plain.state_dict())
    layer.load_state_dict(plain.state_dict(), strict=True)
    assert [name for name, _ in layer.named_parameters()] == [name for name, _ in
                                                             LAYERS[kind](3, 5, 2, True).named_parameters()]
    x = torch.randn(4, 6, 3)
    layer.eval()                                                   # evaluation: the raw weight, as torch.nn
    torch.testing.assert_close(layer(x)[0], plain(x)[0], rtol=0, atol=1e-6)
    assert layer.fast_path.startswith("fused")


@pytest.mark.parametrize("kind", list(LAYERS))
def test_gradients_match_the_reference_on_the_masked_weight(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](3, 4, weight_drop=P, dtype=torch.float64).train()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    (mask,) = masks_after_seed(layer, seed=7)
    torch.manual_seed(7)
    y, _ = layer(x)                                                # (B, T, H)
    g = torch.randn_like(y)
    (y * g).sum().backward()

    cell = layer.cells[0]
    params = {name: value.detach().numpy() for name, value in cell.named_parameters()}
    params["weight_hh"] = params["weight_hh"] * mask.numpy()       # W~ = W * M / (1 - p)
    zeros = np.zeros((2, 4))
    y_ref, _, cache = reference.forward(kind, params, x.detach().numpy().transpose(1, 0, 2),
                                        (zeros, zeros) if kind == "lstm" else zeros)
    np.testing.assert_allclose(y.detach().numpy().transpose(1, 0, 2), y_ref, rtol=0, atol=1e-10)
    grads = reference.backward(cache, g.numpy().transpose(1, 0, 2), None)
    np.testing.assert_allclose(cell.weight_hh.grad.numpy(), grads["weight_hh"] * mask.numpy(), rtol=0, atol=1e-10)
    for name in ("weight_ih", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(cell, name).grad.numpy(), grads[name], rtol=0, atol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), grads["x"].transpose(1, 0, 2), rtol=0, atol=1e-10)
    assert (cell.weight_hh.grad[mask == 0] == 0).all() and (mask == 0).any()


@pytest.mark.parametrize("path, options", [("fused", {}), ("bptt kernel", {"peephole": True}),
                                           ("autograd loop", {})])
def test_one_mask_serves_every_step_of_a_call_on_every_path(path, options):
    """Training with a mask equals evaluation with ``W * M / (1 - p)`` fixed for the whole sequence."""
    torch.manual_seed(1)
    layer = rnnkit.LSTM(3, 5, num_layers=2, weight_drop=P, **options).train()
    x = torch.randn(3, 9, 3)
    masks = masks_after_seed(layer, seed=3)
    torch.manual_seed(3)
    with kernels.force_loop() if path == "autograd loop" else contextlib.nullcontext():
        assert layer.fast_path.startswith(path)
        y, _ = layer(x)
        expected, _ = with_weights(layer, masks).eval()(x)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    other, _ = layer(x)                                            # a new call draws new masks
    assert not torch.allclose(other, y)
    assert not any("weight_hh" in vars(cell) for cell in layer.cells)


def test_weight_drop_is_a_rate():
    with pytest.raises(ValueError, match="^weight_drop: expected a rate"):
        rnnkit.GRU(3, 4, weight_drop=1.0)
