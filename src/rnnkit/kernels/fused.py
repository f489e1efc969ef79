"""A whole stack of standard cells through torch's fused RNN ops, as ``torch.nn.LSTM/GRU/RNN`` call them.

``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh`` and ``torch.rnn_relu`` take every layer and
direction at once (oneDNN on CPU, cuDNN on GPU), with inter-layer dropout. Variable lengths go
through a packed sequence (sorted internally, as ``pack_padded_sequence(enforce_sorted=False)``):
outputs are zero at padding and the final state is each row's state at its last valid step.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator, Sequence

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import LSTMCell, LSTMState
from ..cells.base import RecurrentCell
from .common import forget_shift
from .dispatch import fused_op_name


def run_fused(cells: Sequence[RecurrentCell], x: torch.Tensor, state: Any, lengths: torch.Tensor | None, *,
              num_layers: int, bidirectional: bool, dropout: float, training: bool) -> tuple[torch.Tensor, Any]:
    """Runs ``cells`` (ordered ``layer * D + direction``, all fusable) over ``x (B, T, I)``.

    Arguments:
        state: stacked ``(L*D, B, R)`` (LSTM: ``LSTMState(h, c)``), or None for zeros; validated.
        lengths: ``(B,)`` valid steps per row, or None when every row is full.
        dropout: rate on the outputs of every layer but the last, in training.
    Returns:
        ``(outputs (B, T, D*R), final_state (L*D, B, .))``.
    """
    first = cells[0]
    op = getattr(torch, fused_op_name(first))
    is_lstm = isinstance(first, LSTMCell)
    batch = x.shape[0]
    if state is None:
        zeros = x.new_zeros(len(cells), batch, first.output_size)
        state = LSTMState(zeros, x.new_zeros(len(cells), batch, first.hidden_size)) if is_lstm else zeros
    weights, has_bias = _flat_weights(cells)
    hx = tuple(state) if is_lstm else state
    with _quiet_projection(first):
        if lengths is None:
            outputs, *final = op(x, hx, weights, has_bias, num_layers, dropout, training, bidirectional, True)
        else:
            packed = pack_padded_sequence(x, lengths.to("cpu"), batch_first=True, enforce_sorted=False)
            hx = _index_state(hx, packed.sorted_indices)
            data, *final = op(packed.data, packed.batch_sizes, hx, weights, has_bias, num_layers, dropout,
                              training, bidirectional)
            packed_out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
            outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
            final = _index_state(tuple(final), packed.unsorted_indices)
    return outputs, (LSTMState(*final) if is_lstm else final[0])


@contextlib.contextmanager
def _quiet_projection(cell: RecurrentCell) -> Iterator[None]:
    """Silences torch's notice that oneDNN has no LSTM projection (torch then uses its own kernel)."""
    if not getattr(cell, "proj_size", 0):
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        yield


def _index_state(hx, index: torch.Tensor):
    if isinstance(hx, tuple):
        return tuple(h.index_select(1, index) for h in hx)
    return hx.index_select(1, index)


def _flat_weights(cells: Sequence[RecurrentCell]) -> tuple[list[torch.Tensor], bool]:
    """torch's flat weight list: per cell ``w_ih, w_hh[, b_ih, b_hh][, w_hr]``.

    An LSTM ``forget_bias`` is added to the forget rows of ``b_hh`` (zero biases are supplied when
    the cells have none), which is the same sum of pre-activation terms.
    """
    forget_bias = getattr(cells[0], "forget_bias", 0.0)
    has_bias = cells[0].bias or bool(forget_bias)
    weights = []
    for cell in cells:
        weights += [cell.weight_ih, cell.weight_hh]
        if has_bias:
            b_ih, b_hh = cell.bias_ih, cell.bias_hh
            if forget_bias:
                shift = forget_shift(cell)
                b_ih = shift.new_zeros(shift.shape) if b_ih is None else b_ih
                b_hh = shift if b_hh is None else b_hh + shift
            weights += [b_ih, b_hh]
        if getattr(cell, "weight_hr", None) is not None:
            weights.append(cell.weight_hr)
    return weights, has_bias
