r"""Whole-sequence Elman RNN with hand-derived BPTT (any named nonlinearity, recurrent dropout, zoneout).

Forward, per step (``a_t = x_t W_ih^T + b_ih + b_hh``, all steps in one GEMM outside)::

    h~  = f(a_t + h_in W_hh^T),  h_in = h_{t-1} [* M]
    h_t = d h_{t-1} + (1 - d) h~          (zoneout; else h_t = h~)

Backward, per reversed step, with ``D = f'(h~)`` computed for all steps after the loop::

    dA       = dh~ D
    dh_{t-1} = dy_{t-1} + d dh_t + (dA W_hh) [* M]
"""
from __future__ import annotations

import torch

from . import gemm, native
from .activations import KERNEL_ACTIVATIONS
from .common import (Zoneout, recurrent_input_grad, recurrent_weight_grad, refuse_double_backward, zoneout_at,
                     zoneout_split)
from .timeline import Timeline


class SimpleRNNKernel(torch.autograd.Function):
    """``apply(a_in, h0, weight_hh, mask, d_h, nonlinearity, timeline) -> (y (T, B, H), h_T (B, H))``.

    Time-major ``a_in (T, B, H)``; ``nonlinearity`` a name of ``KERNEL_ACTIVATIONS``. See
    :class:`~rnnkit.kernels.lstm.LSTMKernel` for the conventions.
    """

    @staticmethod
    def forward(ctx, a_in, h0, weight_hh, mask, d_h: Zoneout, nonlinearity: str, timeline: Timeline,
                recording: bool):
        T, B, H = a_in.shape
        y = timeline.buffer(a_in, T, B, H)
        h_in_all = timeline.buffer(a_in, T, B, H) if mask is not None else None
        save = recording and any(ctx.needs_input_grad)           # keep what backward reads
        loops = native.loops_for(a_in)
        if loops is not None:
            f_prime = a_in.new_empty(T, B, H) if save else None                    # f'(h~), written by the loop
            loops.simple_forward(a_in, h0.contiguous(), weight_hh.contiguous(), mask, *native.zoneout_args(d_h),
                                 native.ACTIVATION_IDS[nonlinearity], timeline.batch_sizes, y, h_in_all, f_prime,
                                 native.packed(loops, weight_hh, B))
        else:
            h_new_all = timeline.buffer(a_in, T, B, H) if d_h is not None else y      # h~ before zoneout
            _torch_forward(a_in, h0, weight_hh, mask, d_h, nonlinearity, timeline, y, h_new_all, h_in_all)
            f_prime = KERNEL_ACTIVATIONS[nonlinearity].derivative(h_new_all) if save else None
        if save:
            ctx.save_for_backward(f_prime, h_in_all, h0, y, weight_hh, mask)
            ctx.extras = (loops, d_h, timeline)
        return y, timeline.final(y)

    @staticmethod
    def backward(ctx, d_y, d_h_last):
        refuse_double_backward("SimpleRNNKernel")
        D, h_in_all, h0, y, weight_hh, mask = ctx.saved_tensors
        loops, d_h, timeline = ctx.extras
        T, B, H = y.shape
        dA = timeline.buffer(y, T, B, H)
        dh = d_h_last.clone()                                                 # dL/dh_t, running
        if loops is not None:
            loops.simple_backward(D, weight_hh.contiguous(), mask, *native.zoneout_args(d_h), timeline.batch_sizes,
                                  d_y.contiguous(), dh, dA, native.packed(loops, weight_hh.t(), B))
        else:
            _torch_backward(D, weight_hh, mask, d_h, timeline, d_y, dh, dA)
        d_weight = recurrent_weight_grad(dA, h_in_all, h0, y)
        return dA, dh, d_weight, None, None, None, None, None


def _torch_forward(a_in, h0, weight_hh, mask, d_h, nonlinearity: str, timeline: Timeline, y, h_new_all, h_in_all):
    """The forward step loop in torch ops, filling y (and h_new_all, h_in_all)."""
    f = KERNEL_ACTIVATIONS[nonlinearity]
    hh = gemm.StepProduct(weight_hh, a_in.shape[1])                            # h_in W_hh^T
    for t, rows in timeline.forward_steps():
        h_prev = h0[:rows] if t == 0 else y[t - 1, :rows]
        h_in = h_prev if mask is None else torch.mul(h_prev, mask[:rows], out=h_in_all[t, :rows])
        h_new = hh(h_in, out=h_new_all[t, :rows], shift=a_in[t, :rows])
        f.into(h_new, h_new)
        if d_h is not None:
            torch.lerp(h_new, h_prev, zoneout_at(d_h, t, rows), out=y[t, :rows])


def _torch_backward(D, weight_hh, mask, d_h, timeline: Timeline, d_y, dh, dA):
    """The reversed step loop in torch ops, filling dA and leaving dL/dh_0 in dh."""
    back = gemm.StepProduct(weight_hh.t(), dh.shape[0])                        # dA W_hh
    for t, rows, joining in timeline.backward_steps():
        if joining < rows:
            dh[joining:rows] += d_y[t, joining:rows]
        dh_t, carry = dh[:rows], None
        if d_h is not None:
            dh_t, carry = zoneout_split(dh_t, zoneout_at(d_h, t, rows))
        d_pre = torch.mul(dh_t, D[t, :rows], out=dA[t, :rows])                # dL/dA = dh~ f'(A)
        base = d_y[t - 1, :rows] if t > 0 else None
        if carry is not None:
            base = carry if base is None else base + carry
        recurrent_input_grad(d_pre, back, mask, rows, base, out=dh[:rows])
