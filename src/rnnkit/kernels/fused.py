"""A whole stack of standard cells through torch's fused RNN ops, as ``torch.nn.LSTM/GRU/RNN`` call them.

``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh`` and ``torch.rnn_relu`` take every layer and
direction at once (oneDNN on CPU, cuDNN on GPU), with inter-layer dropout. Outputs are zero at
padding and the final state is each row's state at its last valid step. Variable lengths:

* a packed sequence (sorted internally, as ``pack_padded_sequence(enforce_sorted=False)``) on
  CUDA, which cuDNN runs natively; while traced (ONNX export), where the packed call becomes one
  node that takes the lengths as data; and on CPU when autograd records nothing (inference), where
  the packed forward skips the padding at no extra cost;
* on CPU with autograd, time chunks of the padded batch: with the rows sorted longest first and
  ``l_1 < l_2 < .. < l_k`` the distinct lengths, chunk j runs steps ``l_(j-1) .. l_j - 1`` of the
  rows still running (those with length >= l_j) through the fused op, from the state the chunk
  before ended in; the rows of length l_j take their final state from it. torch's CPU kernel for
  packed sequences has a backward pass whose cost grows much faster than T (19.6 s against 0.7 s
  padded for B=64, T=400, H=128, lengths 280..400, torch 2.13), while the chunks cost what the
  padded op costs for the steps they run, plus about a millisecond per call (so many distinct
  lengths in short batches cost up to ~2x the padded op). GRU and Elman stacks need no chunks:
  their state is their output, so one padded call per layer and a gather at each row's last valid
  step give the final state (padding costs its compute, not a call per length). The gather is also the
  path of GRU / Elman stacks under torch.compile / torch.export, which cannot trace the packing (an
  LSTM with lengths runs the per-step loop there: ``choose_path``). Bidirectional stacks run layer by
  layer, the backward direction on the padding-aware reversal of its input.
  Inter-layer dropout has torch.nn's distribution, drawn per call (so not torch.nn's draws for the
  same seed).

Mixed precision: under CPU autocast to bfloat16, torch casts the fused LSTM and Elman ops to bf16, which
oneDNN runs only on CPUs with native bf16 support (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``);
elsewhere it fails to create its primitive. On such CPUs the fused op runs in float32 instead (autocast's
own rule for an op without a low-precision kernel): its inputs are cast up, its outputs stay float32,
and every other op of the model keeps bf16.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from bisect import bisect_left
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .. import _checks
from ..cells import LSTMCell, LSTMState
from ..cells.base import RecurrentCell
from .common import forget_shift
from .dispatch import fused_op_name
from .timeline import reverse_padded, valid_mask


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
    hx = tuple(state) if is_lstm else (state,)
    if _needs_fp32_fallback(x):
        with torch.autocast("cpu", enabled=False):
            return run_fused(cells, x.float(), LSTMState(*(h.float() for h in hx)) if is_lstm else hx[0].float(),
                             lengths, num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                             training=training)
    with _quiet_projection(first):
        if lengths is None:
            outputs, final = _call(op, cells, x, hx, num_layers, dropout, training, bidirectional)
        elif _packs(cells, x, hx):
            outputs, final = _packed(op, cells, x, hx, lengths, num_layers, dropout, training, bidirectional)
        else:
            unidirectional = _chunked if is_lstm else _gathered                 # traced: never _chunked
            if not bidirectional:
                outputs, final = unidirectional(op, cells, x, hx, lengths, num_layers, dropout, training)
            else:
                outputs, final = _bidirectional(unidirectional, op, cells, x, hx, lengths, num_layers, dropout,
                                                training)
    return outputs, (LSTMState(*final) if is_lstm else final[0])


@functools.lru_cache(maxsize=None)
def cpu_bf16_supported() -> bool:
    """Whether this CPU's oneDNN runs the fused RNN ops in bfloat16 (native bf16 instructions)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):         # an older or oneDNN-less build: assume not
        return False


def _needs_fp32_fallback(x: torch.Tensor) -> bool:
    """Whether CPU autocast would run the fused op in bf16 on a CPU that cannot (module docstring)."""
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not cpu_bf16_supported())


def _packs(cells, x: torch.Tensor, hx: tuple) -> bool:
    """Whether lengths go as a packed sequence (module docstring); never where the packing cannot be
    traced (torch.compile / torch.export, the meta device)."""
    return not _checks.symbolic(x) and (x.is_cuda or torch.jit.is_tracing() or not _records_graph(cells, x, hx))


def _records_graph(cells, x: torch.Tensor, hx: tuple) -> bool:
    """Whether autograd will record this call (so its backward matters)."""
    return torch.is_grad_enabled() and (x.requires_grad or any(h.requires_grad for h in hx)
                                        or any(p.requires_grad for cell in cells for p in cell.parameters()))


def _call(op, cells, x, hx, num_layers, dropout, training, bidirectional):
    """The fused op over the full padded ``x (B, T, I)`` from ``hx`` (a tuple of ``(L*D, B, .)``)."""
    weights, has_bias = _flat_weights(cells)
    outputs, *final = op(x, hx if len(hx) > 1 else hx[0], weights, has_bias, num_layers, dropout, training,
                         bidirectional, True)
    return outputs, tuple(final)


def _packed(op, cells, x, hx, lengths, num_layers, dropout, training, bidirectional):
    """The fused op over a packed sequence (cuDNN's path for variable lengths)."""
    weights, has_bias = _flat_weights(cells)
    packed = pack_padded_sequence(x, lengths.to("cpu"), batch_first=True, enforce_sorted=False)
    hx = _index_state(hx, packed.sorted_indices)
    data, *final = op(packed.data, packed.batch_sizes, hx if len(hx) > 1 else hx[0], weights, has_bias,
                      num_layers, dropout, training, bidirectional)
    packed_out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
    return outputs, _index_state(tuple(final), packed.unsorted_indices)


def _chunked(op, cells, x, hx, lengths, num_layers, dropout, training):
    """A unidirectional stack over right-padded ``x (B, T, I)`` in time chunks between distinct lengths
    (module docstring); returns ``(outputs (B, T, R) zero at padding, final state tuple (L, B, .))``."""
    batch, time = x.shape[:2]
    sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
    x = x.index_select(0, order)                                               # (B, T, I), longest first
    hx = _index_state(hx, order)
    ascending = sorted_lengths.flip(0).tolist()
    ends = sorted(set(ascending))                                              # l_1 < .. < l_k
    running = [batch - bisect_left(ascending, end) for end in ends]            # rows with length >= l_j
    spans = [end - start for start, end in zip([0, *ends], ends)]
    chunks = x.split([*spans, time - ends[-1]], dim=1)                        # backward: one cat, not a scatter a chunk
    outputs, finished = [], []
    for j, (chunk, rows) in enumerate(zip(chunks, running)):
        y, state = _call(op, cells, chunk[:rows], tuple(h[:, :rows] for h in hx), num_layers, dropout, training,
                         False)                                                # (rows, l_j - l_(j-1), R)
        outputs.append(F.pad(y, (0, 0, 0, 0, 0, batch - rows)))
        later = running[j + 1] if j + 1 < len(running) else 0
        finished.append(tuple(h[:, later:] for h in state))                    # rows ending at l_j
        hx = tuple(h[:, :later] for h in state)
    y = F.pad(torch.cat(outputs, dim=1), (0, 0, 0, time - ends[-1]))          # (B, T, R)
    final = tuple(torch.cat(leaves, dim=1) for leaves in zip(*reversed(finished)))   # (L, B, .) sorted rows
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(batch, device=order.device)
    return y.index_select(0, inverse), _index_state(final, inverse)


def _gathered(op, cells, x, hx, lengths, num_layers, dropout, training):
    """A unidirectional GRU / Elman stack over right-padded ``x (B, T, I)``: its state is its output, so
    one padded call per layer gives every row's final state at its last valid step (the steps after
    it only change padding); returns ``(outputs (B, T, R) zero at padding, (h_n (L, B, R),))``."""
    (h0,) = hx
    batch, time = x.shape[:2]
    lengths = lengths.to(x.device)
    last, rows = lengths - 1, torch.arange(batch, device=x.device)
    finals, layer_input = [], x
    for layer in range(num_layers):
        if layer and dropout and training:
            layer_input = F.dropout(layer_input, dropout, training)
        layer_input, _ = _call(op, cells[layer:layer + 1], layer_input, (h0[layer:layer + 1],), 1, 0.0, training,
                               False)                                          # (B, T, R)
        finals.append(layer_input[rows, last])                                 # (B, R)
    return layer_input * valid_mask(lengths, time)[..., None], (torch.stack(finals),)


def _bidirectional(unidirectional, op, cells, x, hx, lengths, num_layers, dropout, training):
    """Layer by layer: the forward cell over the layer input, the backward cell over its padding-aware
    reversal (each by ``unidirectional``: :func:`_chunked` or :func:`_gathered`); inter-layer dropout on
    the concatenated outputs, as the fused op applies it."""
    finals, layer_input = [], x
    for layer in range(num_layers):
        if layer and dropout and training:
            layer_input = F.dropout(layer_input, dropout, training)
        directions = []
        for direction, inputs in enumerate((layer_input, reverse_padded(layer_input, lengths))):
            k = 2 * layer + direction
            y, final = unidirectional(op, cells[k:k + 1], inputs, tuple(h[k:k + 1] for h in hx), lengths, 1, 0.0,
                                      training)
            directions.append(y if direction == 0 else reverse_padded(y, lengths))
            finals.append(final)
        layer_input = torch.cat(directions, dim=2)                             # (B, T, 2R)
    return layer_input, tuple(torch.cat(leaves, dim=0) for leaves in zip(*finals))   # (2L, B, .)


@contextlib.contextmanager
def _quiet_projection(cell: RecurrentCell) -> Iterator[None]:
    """Silences torch's notice that oneDNN has no LSTM projection (torch then uses its own kernel);
    not while traced by torch.compile / torch.export, which do not trace ``warnings.catch_warnings``."""
    if not getattr(cell, "proj_size", 0) or torch.compiler.is_compiling():
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        yield


def _index_state(hx: tuple, index: torch.Tensor) -> tuple:
    """The state tensors ``(L*D, B, .)`` with their rows (dimension 1) reordered by ``index``."""
    return tuple(h.index_select(1, index) for h in hx)


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
