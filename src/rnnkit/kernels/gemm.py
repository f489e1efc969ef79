"""The kernels' matrix products: oneDNN's on CPU float32 where it pays, torch.mm elsewhere.

``torch.mm`` on CPU calls MKL's sgemm, which runs a slow code path on some CPUs (AMD EPYC: 2-3x
below oneDNN at RNN sizes); oneDNN, which torch's own fused RNNs use, does not. For float32 CPU
tensors and products large enough for oneDNN's per-call cost (tens of µs) to pay, the kernels go
through ``torch.ops.mkldnn._linear_pointwise`` (the op torch's CPU compiler emits for linear layers)
with the weight packed once per call. Float64, GPU tensors, small products or a torch without
oneDNN use ``torch.mm`` / ``F.linear``. Both compute ``x W^T`` in float32; they may differ in the
last bits (summation order).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ONEDNN_MIN_MACS = 1 << 20                     # below this, MKL's lower call cost wins

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_applies(x: torch.Tensor, macs: int) -> bool:
    """Whether a product of ``macs`` multiply-adds on tensors like ``x`` goes through oneDNN."""
    return _ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32 and macs >= ONEDNN_MIN_MACS


def pack(weight: torch.Tensor, rows: int) -> torch.Tensor | None:
    """``weight (N, K)`` packed for products ``x (rows, K) weight^T`` through oneDNN, or None (use mm)."""
    if not onednn_applies(weight, rows * weight.numel()):
        return None
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)


def product(x: torch.Tensor, weight: torch.Tensor, packed: torch.Tensor | None = None,
            bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x (M, K) weight^T (+ bias)`` ``(M, N)``; ``packed`` is ``pack(weight, M)`` for a weight used many
    times (a weight used once goes to oneDNN as it is: packing it would cost as much as the product).
    oneDNN adds the bias as it writes the product (no second pass over the output)."""
    if packed is None and not onednn_applies(x, x.shape[0] * weight.numel()):
        return x.mm(weight.t()) if bias is None else torch.addmm(bias, x, weight.t())
    if packed is None and not (weight.is_contiguous() or weight.t().is_contiguous()):
        weight = weight.contiguous()                      # other strides take oneDNN's reference kernel
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight if packed is None else packed,
                                              None if bias is None else bias.contiguous(), "none", [], "")


class StepProduct:
    """``shift + x W^T`` for one weight ``W (N, K)`` used at every step: through oneDNN with the weight
    packed once per call (see :func:`pack`), else ``torch.addmm``."""

    def __init__(self, weight: torch.Tensor, rows: int):
        self.weight_t = weight.t()
        self.packed = pack(weight, rows)

    def __call__(self, x: torch.Tensor, out: torch.Tensor | None = None,
                 shift: torch.Tensor | None = None) -> torch.Tensor:
        if self.packed is None:
            if shift is None:
                return torch.mm(x, self.weight_t, out=out)
            return torch.addmm(shift, x, self.weight_t, out=out)
        y = product(x, self.weight_t.t(), self.packed)
        if shift is not None:
            return torch.add(shift, y, out=out)
        return y if out is None else out.copy_(y)


def weight_grad(d_out: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``d_out^T inputs`` for ``d_out (..., N)`` and ``inputs (..., K)`` over all leading axes: ``(N, K)``.

    Through oneDNN as ``(inputs^T d_out)^T``: only the smaller ``inputs`` is copied into ``(K, M)``
    rows; ``d_out`` is read in place as a transposed weight.
    """
    d_out, inputs = d_out.reshape(-1, d_out.shape[-1]), inputs.reshape(-1, inputs.shape[-1])
    if not onednn_applies(d_out, d_out.numel() * inputs.shape[1]):
        return d_out.t().mm(inputs)
    return product(inputs.t().contiguous(), d_out.t()).t()


class Linear(torch.autograd.Function):
    """``x (M, K) weight^T + bias`` with oneDNN products forward and backward (float32 CPU)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return product(x, weight, bias=bias)

    @staticmethod
    def backward(ctx, d_out):
        x, weight = ctx.saved_tensors
        d_x = d_w = d_b = None
        if ctx.needs_input_grad[0]:
            d_x = product(d_out, weight.t())                                       # d_out W
        if ctx.needs_input_grad[1]:
            d_w = weight_grad(d_out, x)                                            # d_out^T x
        if ctx.has_bias and ctx.needs_input_grad[2]:
            d_b = d_out.sum(0)
        return d_x, d_w, d_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` for ``x (..., K)``, through oneDNN where :func:`onednn_applies`."""
    rows = x.numel() // x.shape[-1]
    if not onednn_applies(x, rows * weight.numel()):
        return F.linear(x, weight, bias)
    return Linear.apply(x.reshape(rows, x.shape[-1]), weight, bias).view(*x.shape[:-1], weight.shape[0])
