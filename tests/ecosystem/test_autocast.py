"""Autocast runs through every path: torch's fused ops, every BPTT variant kernel and the per-step
loop, with and without lengths, forward and backward, close to float32.

Tolerances (B=3, T=5, I=4, H=6, PyTorch's initialisation): outputs and final states within ``ATOL``
of float32, gradients within ``GRAD_RTOL`` of their largest entry (measured: at most 1.6e-2 and
4.1e-2, the loop through a layer-normalised LSTM; 0.4-1.4e-2 elsewhere). The BPTT kernels run in
float32 under autocast (rnnkit.kernels.sequence), so they match float32 to rounding (``KERNEL_ATOL``);
the fused ops and the loop compute their products in bfloat16 (8 significant bits).
"""
import contextlib

import pytest
import torch

import rnnkit
from rnnkit import kernels
from rnnkit.cells.base import state_leaves

from ecocases import LENGTHS, B, I, T

ATOL, GRAD_RTOL = 3e-2, 6e-2
KERNEL_ATOL = 1e-6

FUSED = [(rnnkit.LSTM, {"num_layers": 2, "bidirectional": True}), (rnnkit.LSTM, {"proj_size": 3}),
         (rnnkit.GRU, {}), (rnnkit.SimpleRNN, {"num_layers": 2})]
VARIANTS = [
    (rnnkit.LSTM, {"peephole": True}), (rnnkit.LSTM, {"coupled": True}), (rnnkit.LSTM, {"forget_gate": False}),
    (rnnkit.LSTM, {"layer_norm": True, "proj_size": 3}), (rnnkit.LSTM, {"recurrent_activation": "hard_sigmoid"}),
    (rnnkit.LSTM, {"zoneout": 0.2, "bidirectional": True}), (rnnkit.GRU, {"reset_after": False}),
    (rnnkit.GRU, {"layer_norm": True}), (rnnkit.GRU, {"activation": "softsign", "zoneout": 0.2}),
    (rnnkit.SimpleRNN, {"nonlinearity": "relu", "zoneout": 0.2}),
]
LOOPED = [(rnnkit.LSTM, {"layer_norm": True, "zoneout": 0.2}), (rnnkit.GRU, {"reset_after": False}),
          (rnnkit.SimpleRNN, {"zoneout": 0.2})]
CASES = ([("fused", c, o) for c, o in FUSED] + [("bptt", c, o) for c, o in VARIANTS]
         + [("loop", c, o) for c, o in LOOPED])
CASE_IDS = [f"{p}-{c.__name__}-{','.join(o)}" for p, c, o in CASES]


def forward_backward(layer, x, lengths, path, autocast, device="cpu"):
    """``(outputs, final state leaves, gradients of x and every parameter)``, all as float32; the
    forward pass under ``autocast`` (a dtype, or None), the backward pass outside it (torch.amp's advice)."""
    with torch.autocast(device, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        with kernels.force_loop() if path == "loop" else contextlib.nullcontext():
            y, final = layer(x, lengths=lengths)
            loss = (y.float() * torch.linspace(-1, 1, y.shape[-1], device=device)).sum()
    grads = torch.autograd.grad(loss, [x, *layer.parameters()])
    return [y.float(), *(leaf.float() for leaf in state_leaves(final))], [g.float() for g in grads]


def assert_close_to_float32(got, want, path):
    """``got``/``want``: (results, gradients) as :func:`forward_backward` returns them."""
    atol = KERNEL_ATOL if path == "bptt" else ATOL
    grad_rtol = KERNEL_ATOL if path == "bptt" else GRAD_RTOL
    for g, w in zip(got[0], want[0], strict=True):
        torch.testing.assert_close(g, w, atol=atol, rtol=0)
    for g, w in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(g, w, atol=grad_rtol * w.abs().max().item(), rtol=0)


def check_path(layer, path):
    expected = "bptt kernel" if path == "bptt" else "fused"          # the loop: forced on a kernel's layer
    assert layer.fast_path.startswith(expected) or path == "loop"


@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("path,layer_class,options", CASES, ids=CASE_IDS)
def test_cpu_bf16_autocast_is_close_to_float32(path, layer_class, options, padded):
    layer = layer_class(I, 6, **options).eval()
    check_path(layer, path)
    x = torch.randn(B, T, I, requires_grad=True)
    lengths = torch.tensor(LENGTHS) if padded else None
    assert_close_to_float32(forward_backward(layer, x, lengths, path, torch.bfloat16),
                            forward_backward(layer, x, lengths, path, None), path)


def test_bptt_kernels_take_lower_precision_inputs_and_states_under_autocast():
    """bfloat16 from the layers before (an autocast embedding, a previous rnnkit layer) is cast up exactly."""
    layer = rnnkit.GRU(I, 6, layer_norm=True).eval()
    x, h0 = torch.randn(B, T, I).bfloat16(), torch.randn(1, B, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, h = layer(x, h0, lengths=LENGTHS)
    y_want, h_want = layer(x.float(), h0.float(), lengths=LENGTHS)
    assert y.dtype == torch.float32                                  # the kernel's dtype: the parameters'
    torch.testing.assert_close(y, y_want, atol=KERNEL_ATOL, rtol=0)
    torch.testing.assert_close(h, h_want, atol=KERNEL_ATOL, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA autocast (float16, bfloat16) needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("path,layer_class,options", CASES, ids=CASE_IDS)
def test_cuda_autocast_is_close_to_float32(path, layer_class, options, dtype):
    layer = layer_class(I, 6, **options).cuda().eval()
    check_path(layer, path)
    x = torch.randn(B, T, I, device="cuda", requires_grad=True)
    lengths = torch.tensor(LENGTHS)
    assert_close_to_float32(forward_backward(layer, x, lengths, path, dtype, "cuda"),
                            forward_backward(layer, x, lengths, path, None, "cuda"), path)
