r"""Gate activations of a recurrent stack, step by step: what every unit of every gate does over a sequence.

For each layer and step the trace keeps what the cell computed (PyTorch's gate names)::

    LSTM   i, f, g, o    input gate, forget gate (absent without one, and when coupled: f = 1 - i),
                         candidate g, output gate
           c             the cell state c_t
           h             the output h_t (after the projection when proj_size > 0)
    GRU    r, z, n       reset gate, update gate, candidate n
           h             the output h_t
    SRN    h             the output h_t  (and so for any other cell: the first leaf of its state)

The cells are not changed and no fast path is touched: each step runs the layer's own
``cell.step`` through the per-step loop (:func:`rnnkit.diagnostics.flow.unroll`), on a shallow copy
of the cell whose activation functions σ and φ record what they return. A built-in cell's step
applies them in a fixed order, from which the gates are read back::

    LSTM   σ: i, f, o  (i, o without a forget gate)     φ: g, then φ(c_t) (not a gate)
    GRU    σ: r, z                                      φ: n

and a trace whose calls do not add up to that order raises instead of mislabelling a gate.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..cells.base import state_leaves
from ..cells.gru import GRUCell
from ..cells.lstm import LSTMCell, LSTMState
from .flow import layer_cells, unroll

# What σ-gates and tanh-valued quantities span; c (and anything under other activations) is unbounded.
UNIT_INTERVAL = (0.0, 1.0)
SYMMETRIC_INTERVAL = (-1.0, 1.0)


def _call_order(cell: nn.Module) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """The gate names of a step's σ calls and φ calls, in order (None: a φ call that is not a gate)."""
    if isinstance(cell, LSTMCell):
        return (("i", "f", "o") if cell.has_forget_gate else ("i", "o")), ("g", None)
    if isinstance(cell, GRUCell):
        return ("r", "z"), ("n",)
    return (), ()


def gate_names(cell: nn.Module) -> tuple[str, ...]:
    """The names a trace of ``cell`` holds, in display order: ``("i", "f", "g", "o", "c", "h")`` for the
    standard LSTM, ``("r", "z", "n", "h")`` for the GRU, ``("h",)`` for the simple RNN and user cells."""
    if isinstance(cell, LSTMCell):
        return ("i", "f", "g", "o", "c", "h") if cell.has_forget_gate else ("i", "g", "o", "c", "h")
    if isinstance(cell, GRUCell):
        return ("r", "z", "n", "h")
    return ("h",)


def gate_range(cell: nn.Module, name: str) -> tuple[float, float] | None:
    """The interval the values of gate ``name`` of ``cell`` lie in, or None when unbounded (``c``,
    a projected ``h``, activations other than sigmoid / hard sigmoid / tanh)."""
    if name in ("i", "f", "o", "r", "z"):
        return UNIT_INTERVAL if getattr(cell, "recurrent_activation", None) in ("sigmoid", "hard_sigmoid") else None
    squashing = getattr(cell, "activation", getattr(cell, "nonlinearity", None)) == "tanh"
    if name in ("g", "n") or (name == "h" and not getattr(cell, "proj_size", 0)):
        return SYMMETRIC_INTERVAL if squashing else None
    return None


class _Recorder:
    """An activation function that keeps every output it returns."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        self.function = function
        self.outputs: list[torch.Tensor] = []

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        value = self.function(z)
        self.outputs.append(value)
        return value


@dataclass
class GateTrace:
    """A recurrent stack's activations over ``x (B, T, I)``.

    Attributes:
        gates: per layer, ``{name: (B, T, width)}`` in :func:`gate_names` order.
        final: per layer, the state after the last step (pass it as ``initial`` to continue).
        outputs: the top layer's outputs ``(B, T, R)``.
    """

    gates: list[dict[str, torch.Tensor]]
    final: list[Any]
    outputs: torch.Tensor


def _read_back(cell: nn.Module, recorders: tuple[_Recorder, _Recorder] | None, states: list[Any],
               time: int) -> dict[str, torch.Tensor]:
    """``{name: (B, T, width)}`` of one layer from its recorders and its per-step states."""
    found: dict[str, torch.Tensor] = {}
    if recorders is not None:
        for names, recorder, kind in zip(_call_order(cell), recorders, ("σ", "φ")):
            if len(recorder.outputs) != time * len(names):
                raise RuntimeError(f"cell: {type(cell).__name__}.step applied {kind} {len(recorder.outputs)} times in "
                                   f"{time} steps, expected {len(names)} per step ({', '.join(map(str, names))}); "
                                   "the gate order of rnnkit.diagnostics.activations no longer matches the cell")
            calls = torch.stack(recorder.outputs).unflatten(0, (time, len(names)))    # (T, n, B, H)
            found.update({name: calls[:, k].transpose(0, 1) for k, name in enumerate(names) if name is not None})
    if isinstance(states[0], LSTMState):
        found["c"] = torch.stack([s.c for s in states], dim=1)                        # (B, T, H)
    found["h"] = torch.stack([state_leaves(s)[0] for s in states], dim=1)             # (B, T, R)
    return {name: found[name] for name in gate_names(cell)}


def trace_gates(layer: nn.Module, x: torch.Tensor, initial: list[Any] | None = None) -> GateTrace:
    """Runs ``layer`` over ``x (B, T, I)`` in evaluation mode and keeps every gate (module docstring).

    Arguments:
        layer: a unidirectional ``rnnkit.SimpleRNN / LSTM / GRU`` (any depth) or ``rnnkit.RNN(cell)``.
        x: the layer's input ``(B, T, I)``.
        initial: one state per layer to start from (None: zeros), e.g. ``final`` of an earlier trace.
    Returns:
        a :class:`GateTrace`; no gradients are kept.
    """
    recorders: list[tuple[_Recorder, _Recorder] | None] = []

    def recording(cell: nn.Module) -> nn.Module:
        if not any(_call_order(cell)):
            recorders.append(None)
            return cell
        twin = copy.copy(cell)                      # shares the parameters; only the copy records
        twin._sigma, twin._phi = _Recorder(cell._sigma), _Recorder(cell._phi)
        recorders.append((twin._sigma, twin._phi))
        return twin

    was_training = layer.training
    layer.eval()
    try:
        with torch.no_grad():
            run = unroll(layer, x, initial, wrap=recording)
    finally:
        layer.train(was_training)
    time = x.shape[1]
    gates = [_read_back(cell, recorded, states, time)
             for cell, recorded, states in zip(layer_cells(layer), recorders, run.states)]
    return GateTrace(gates, [states[-1] for states in run.states], run.outputs)
