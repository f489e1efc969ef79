"""Pieces every BPTT kernel shares: per-step layer norm, zoneout factors, the recurrent weight gradient.

Layer norm over blocks (docs/cells.md, ``LNb``) uses torch's fused ``native_layer_norm`` and its
backward; the kernels keep the pre-normalisation values and per-step statistics.
"""
from __future__ import annotations

from typing import Union

import torch

from ..cells.base import LAYER_NORM_EPS
from . import gemm

Zoneout = Union[None, float, torch.Tensor]     # none, the evaluation expectation p, or d (T, B, .) draws


class DoubleBackwardError(RuntimeError):
    """Raised when a BPTT kernel is differentiated twice (``create_graph=True``)."""


def forget_shift(cell) -> torch.Tensor:
    """The LSTM ``forget_bias`` as a vector over the gate rows ``(4H,)``: the constant on the f rows."""
    H = cell.hidden_size
    shift = cell.weight_ih.new_zeros(cell.weight_ih.shape[0])
    shift[H:2 * H] = cell.forget_bias                                          # gate order i, f, g, o
    return shift


def refuse_double_backward(kernel: str) -> None:
    """BPTT kernels are once-differentiable: their backward is hand-written, not recorded."""
    if torch.is_grad_enabled():
        raise DoubleBackwardError(
            f"{kernel}: the BPTT kernels do not support double backward (create_graph=True); "
            "run the layer inside rnnkit.kernels.force_loop() to differentiate through the autograd loop")


def layer_norm(z: torch.Tensor, block: int, weight=None, bias=None):
    """``LN`` over the last axis in blocks of ``block`` columns: ``z (n, G*block)`` ->
    ``(normalised (n, G*block) [* weight + bias], (mean, rstd))``."""
    rows, width = z.shape                                      # rows may be 0: a step no row reaches
    out, mean, rstd = torch.native_layer_norm(z.view(rows, width // block, block), [block], weight, bias,
                                              LAYER_NORM_EPS)
    return out.view(rows, width), (mean, rstd)


def layer_norm_backward(d_out: torch.Tensor, z: torch.Tensor, block: int, stats, weight=None, bias=None):
    """dL/dz of :func:`layer_norm` given dL/d(output) (``d_out (n, G*block)``)."""
    rows, width = z.shape
    blocks = (rows, width // block, block)
    mean, rstd = stats
    dz = torch.ops.aten.native_layer_norm_backward(
        d_out.view(blocks), z.view(blocks), [block], mean, rstd, weight, bias, [True, False, False])[0]
    return dz.view(rows, width)


def normalised(z: torch.Tensor, block: int) -> torch.Tensor:
    """``LNb(z)`` for all steps at once, ``(T, B, G*block)``: recomputed for the gain gradients."""
    blocks = z.unflatten(-1, (-1, block))
    return torch.native_layer_norm(blocks, [block], None, None, LAYER_NORM_EPS)[0].flatten(-2)


def zoneout_at(d: Zoneout, t: int, rows: int):
    """The zoneout factor of step t for the first ``rows`` rows (a float in evaluation)."""
    return d[t, :rows] if isinstance(d, torch.Tensor) else d


def zoneout_split(grad: torch.Tensor, d) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward of ``s_t = d * s_{t-1} + (1 - d) * s~_t``: returns ``(dL/ds~_t, dL/ds_{t-1} part)``."""
    carry = grad * d                                   # dL/ds_{t-1} += d * dL/ds_t
    return grad - carry, carry                         # dL/ds~_t = (1 - d) * dL/ds_t


def previous(first: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``(T, B, .)`` stack of the states each step read: ``[s_0, s_1 .. s_{T-2}]`` -> first, states[:-1]."""
    return torch.cat([first.unsqueeze(0), states[:-1]])


def recurrent_weight_grad(d_pre: torch.Tensor, inputs: torch.Tensor | None, first: torch.Tensor,
                          outputs: torch.Tensor) -> torch.Tensor:
    """``dW = sum_t d_pre_t^T x_t`` for a product ``x_t W^T``, as one GEMM over all steps.

    Arguments:
        d_pre: ``(T, B, N)`` gradients of the product.
        inputs: ``(T, B, K)`` the multiplied states, or None when they are ``[first, outputs[:-1]]``
            (the unmasked previous states).
    Returns: ``(N, K)``.
    """
    return gemm.weight_grad(d_pre, inputs if inputs is not None else previous(first, outputs))


def recurrent_input_grad(d_pre: torch.Tensor, back: gemm.StepProduct, mask: torch.Tensor | None, rows: int,
                         base: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
    """``out = base + (d_pre W) [* M]``: dL/dh_{t-1} through the product ``h_in W^T``, ``h_in = h_{t-1} M``.

    ``d_pre (b, N)``; ``back`` the product ``d_pre W`` (a StepProduct of ``W^T``); ``mask (B, K)`` or
    None; ``base (b, K)`` or None.
    """
    if mask is None:
        return back(d_pre, out=out, shift=base)
    product = back(d_pre)
    if base is None:
        return torch.mul(product, mask[:rows], out=out)
    return torch.addcmul(base, product, mask[:rows], out=out)


def masked_add(base: torch.Tensor, d_in: torch.Tensor, mask: torch.Tensor | None, rows: int,
               out: torch.Tensor) -> torch.Tensor:
    """``out = base + d_in [* M]``: dL/dh_{t-1} from dL/dh_in, ``h_in = h_{t-1} M``."""
    if mask is None:
        return torch.add(base, d_in, out=out)
    return torch.addcmul(base, d_in, mask[:rows], out=out)


def input_side(z: torch.Tensor, ln_weight: torch.Tensor | None, bias: torch.Tensor | None,
               block: int) -> torch.Tensor:
    """The input side of every pre-activation, all steps ``(T, B, N)``: ``z`` itself (already
    ``x W_ih^T + bias``), or with the input-side layer norm ``LNb(z) ln_weight + bias`` for ``z = x W_ih^T``."""
    if ln_weight is None:
        return z
    z_hat = normalised(z, block)
    return z_hat * ln_weight if bias is None else torch.addcmul(bias, z_hat, ln_weight)


def input_side_backward(d_a: torch.Tensor, z: torch.Tensor, ln_weight: torch.Tensor | None, has_bias: bool,
                        block: int):
    """Backward of :func:`input_side`: ``(dL/dz, dL/dln_weight, dL/dbias)`` (None where absent)."""
    if ln_weight is None:
        return d_a, None, None
    T, B, N = z.shape
    blocks = z.view(T, B, -1, block)
    z_hat, mean, rstd = torch.native_layer_norm(blocks, [block], None, None, LAYER_NORM_EPS)
    d_z = torch.ops.aten.native_layer_norm_backward(
        (d_a * ln_weight).view(T, B, -1, block), blocks, [block], mean, rstd, None, None, [True, False, False])[0]
    d_ln = (d_a * z_hat.view(T, B, N)).sum((0, 1))                            # sum dA * LNb(z)
    return d_z.view(T, B, N), d_ln, (d_a.sum((0, 1)) if has_bias else None)
