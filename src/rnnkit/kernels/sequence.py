"""``run_cell``: one built-in cell over a padded batch through its BPTT kernel.

The contract is :func:`rnnkit.recurrent.loop.run_sequence`'s: batch-first ``x (B, T, I)``,
``lengths`` (right padding) or None, the recurrent-dropout mask drawn by the caller, zoneout drawn
here. Around the kernel, in autograd: the input projection of all steps as one GEMM (with both
biases and ``forget_bias`` folded in; an input-side layer norm is applied inside the kernel), the
sort of the batch by length and its inverse. An LSTM under ``torch.no_grad()`` with the C++ loops
hands them ``x`` itself instead (``lstm_inference``: the projection a few steps at a time there).
"""
from __future__ import annotations

import math

from typing import Any

import torch

from .. import _checks
from ..cells import GRUCell, LSTMCell, LSTMState, SimpleRNNCell
from ..cells.activations import name_of
from ..cells.base import RecurrentCell, map_state
from . import draws, gemm, native
from .common import Zoneout, forget_shift
from .gru import GRUKernel, GRUSpec
from .lstm import LSTMKernel, LSTMSpec, LSTMWeights, lstm_inference
from .simple import SimpleRNNKernel
from .timeline import Timeline, sort_by_length


def run_cell(cell: RecurrentCell, x: torch.Tensor, state: Any, lengths: torch.Tensor | None = None, *,
             recurrent_mask: torch.Tensor | None = None, zoneout: float = 0.0,
             training: bool = False) -> tuple[torch.Tensor, Any]:
    """Runs a built-in cell over ``x (B, T, I)`` from ``state``; inputs are already validated.

    Arguments:
        cell: a SimpleRNNCell, LSTMCell or GRUCell with named activations (see ``bptt_reason``).
        lengths: ``(B,)`` valid steps per row, or None.
        recurrent_mask: ``(B, R)`` variational dropout mask on ``h_{t-1}``, or None.
        zoneout: rate p; in training each step and unit keeps its previous value with probability
            p, in evaluation the state is ``p s_{t-1} + (1 - p) s_t``.
    Returns:
        ``(y (B, T, R), final_state)``, y zero at padded steps, the final state taken at each row's
        last valid step.

    Under autocast the kernel runs in the parameters' dtype (float32) with autocast off: its step
    loops write into preallocated buffers of one dtype, and the state, summed over every step forward
    and backward, keeps full precision. Lower-precision inputs and states are cast up (exactly).
    """
    if _checks.autocast_dtype(x.device) is not None:
        dtype = cell.weight_ih.dtype
        with torch.autocast(x.device.type, enabled=False):
            return run_cell(cell, x.to(dtype), map_state(lambda s: s.to(dtype), state), lengths,
                            recurrent_mask=None if recurrent_mask is None else recurrent_mask.to(dtype),
                            zoneout=zoneout, training=training)
    batch, time = x.shape[:2]
    x_tm = x.transpose(0, 1)                                                   # (T, B, I)
    timeline, order = Timeline(time, batch), None
    if lengths is not None:
        order, _, batch_sizes = sort_by_length(lengths, time)
        timeline = Timeline(time, batch, batch_sizes)
        x_tm = x_tm.index_select(1, order)
        state = map_state(lambda s: s.index_select(0, order), state)
        if recurrent_mask is not None:
            recurrent_mask = recurrent_mask.index_select(0, order)
    y, final = _KERNELS[type(cell)](cell, x_tm, state, recurrent_mask, zoneout, training, timeline)
    if order is not None:
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(batch, device=order.device)
        y = y.index_select(1, inverse)
        final = map_state(lambda s: s.index_select(0, inverse), final)
    return y.transpose(0, 1), final


def zoneout_factors(p: float, training: bool, shapes: list[tuple[int, ...]], like: torch.Tensor) -> list[Zoneout]:
    """For each shape: None (off), the rate itself (evaluation), or Bernoulli(p) draws ``d (T, B, .)``
    (training) from :mod:`.draws` (16-bit uniforms: p is rounded to a multiple of 2^-16; 1 - 2^-17
    and above draw all ones)."""
    if not p:
        return [None] * len(shapes)
    if not training:
        return [p] * len(shapes)
    sizes = [math.prod(shape) for shape in shapes]
    count = round(p * 2 ** 16)                                           # of the 2^16 values of u, those < count
    d = like.new_ones(sum(sizes)) if count >= 2 ** 16 else draws.bernoulli(count, sum(sizes), like)
    return [part.view(shape) for part, shape in zip(d.split(sizes), shapes)]


def _input_bias(cell: RecurrentCell, fold_hidden_bias: bool) -> torch.Tensor | None:
    """``bias_ih [+ bias_hh] [+ forget_bias on the f rows]``: the constant part of the input projection."""
    bias = cell.bias_ih
    if fold_hidden_bias and cell.bias_hh is not None:
        bias = bias + cell.bias_hh
    if getattr(cell, "forget_bias", 0.0):
        bias = forget_shift(cell) if bias is None else bias + forget_shift(cell)
    return bias


def _input_side(x: torch.Tensor, cell: RecurrentCell, bias: torch.Tensor | None):
    """The kernels' ``(z_in, ln_ih_weight, bias_in)``: one GEMM for all steps, ``x W_ih^T + bias``, or with
    the input-side layer norm ``x W_ih^T`` and the norm's gain and shift for the kernel to apply."""
    if cell.ln_ih_weight is None:
        return gemm.linear(x, cell.weight_ih, bias), None, None
    return gemm.linear(x, cell.weight_ih), cell.ln_ih_weight, bias


def _run_simple(cell: SimpleRNNCell, x, h0, mask, zoneout, training, timeline):
    a_in = gemm.linear(x, cell.weight_ih, _input_bias(cell, True))              # (T, B, H)
    d_h, = zoneout_factors(zoneout, training, [tuple(a_in.shape)], a_in)
    return SimpleRNNKernel.apply(a_in, h0, cell.weight_hh, mask, d_h, name_of(cell.nonlinearity), timeline,
                                 torch.is_grad_enabled())


def _run_lstm(cell: LSTMCell, x, state, mask, zoneout, training, timeline):
    time, batch = x.shape[:2]
    shapes = [(time, batch, cell.output_size), (time, batch, cell.hidden_size)]
    d_h, d_c = zoneout_factors(zoneout, training, shapes, x)
    spec = LSTMSpec(cell.has_forget_gate, cell.coupled, name_of(cell.recurrent_activation),
                    name_of(cell.activation))
    weights = LSTMWeights(cell.weight_hh, cell.ln_hh_weight, cell.weight_ci, cell.weight_cf, cell.weight_co,
                          cell.ln_cell_weight, cell.ln_cell_bias, cell.weight_hr)
    loops = native.loops_for(x) if not torch.is_grad_enabled() else None
    if loops is not None:                                                       # inference: x W_ih^T in the loop
        y, h, c = lstm_inference(loops, x, cell.weight_ih, cell.ln_ih_weight, _input_bias(cell, True), state.h,
                                 state.c, weights, mask, d_h, d_c, spec, timeline)
        return y, LSTMState(h, c)
    z_in, ln_ih, bias_in = _input_side(x, cell, _input_bias(cell, True))       # (T, B, G*H)
    y, h, c = LSTMKernel.apply(z_in, state.h, state.c, *weights, ln_ih, bias_in, mask, d_h, d_c, spec, timeline,
                               torch.is_grad_enabled())
    return y, LSTMState(h, c)


def _run_gru(cell: GRUCell, x, h0, mask, zoneout, training, timeline):
    z_in, ln_ih, bias_in = _input_side(x, cell, _input_bias(cell, not cell.reset_after))   # (T, B, 3H)
    d_h, = zoneout_factors(zoneout, training, [(z_in.shape[0], z_in.shape[1], cell.hidden_size)], z_in)
    spec = GRUSpec(cell.reset_after, name_of(cell.recurrent_activation), name_of(cell.activation))
    bias_hh = cell.bias_hh if cell.reset_after else None
    return GRUKernel.apply(z_in, h0, cell.weight_hh, bias_hh, cell.ln_hh_weight, ln_ih, bias_in, mask, d_h, spec,
                           timeline, torch.is_grad_enabled())


_KERNELS = {SimpleRNNCell: _run_simple, LSTMCell: _run_lstm, GRUCell: _run_gru}
