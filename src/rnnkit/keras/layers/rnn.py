"""Keras' recurrent layers: ``RNN(cell)``, ``SimpleRNN``, ``LSTM``, ``GRU``.

Built-in cells run their whole sequence through the rnnkit layers (one call per cell, with
``lengths`` for right-padded masks). User cells and other masks step through ``rnnkit.RNN`` with
:class:`~rnnkit.keras.layers.masked_steps.MaskedSteps`. Either way the result is Keras': outputs in
processing order (reversed for ``go_backwards``), ``return_sequences`` / ``return_state``, and
``stateful`` layers carrying their final states into the next call (detached: no gradient crosses calls).
"""
from __future__ import annotations

from typing import Any

import torch

from ... import RNN as CoreRNN
from ...recurrent.loop import reverse_padded
from .. import regularizers
from . import symbolic
from .base import Layer
from .cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell, StackedRNNCells, zero_state
from .masked_steps import MaskedSteps, keras_order, right_padding_lengths


class RNN(Layer):
    """Runs a cell (or a list of cells, stacked) over ``(B, T, I)`` sequences, as ``keras.layers.RNN``.

    Arguments:
        cell: a Keras cell (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, a user layer with
            ``state_size`` and ``call(inputs, states) -> (output, new_states)``), or a list of cells.
        return_sequences: return ``(B, T, units)`` instead of the last output ``(B, units)``.
        return_state: also return the final states (``output, h`` or ``output, h, c``; stacked: one
            list per cell).
        go_backwards: process from the last step to the first; outputs come in processing order.
        stateful: the final states of a call are the initial states of the next (same batch size);
            ``reset_states()`` zeroes them.
        unroll: accepted; rnnkit always runs a loop (the fused kernels are its fast path).
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        activity_regularizer: a penalty on the outputs, added to the loss in ``fit``.

    ``call(sequences, initial_state=None, mask=None)``; ``mask (B, T)`` booleans (True = valid).
    """

    supports_masking = True

    def __init__(self, cell: Any, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, activity_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise ValueError(f"cell: expected a Keras RNN cell (a Layer with state_size and call(inputs, states)), "
                             f"got {type(cell).__name__}")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self.states: Any = None

    def step_cells(self) -> list:
        return list(self.cell.cells) if isinstance(self.cell, StackedRNNCells) else [self.cell]

    def build(self, sequences_shape: Any) -> None:
        self.cell.ensure_built((sequences_shape[0], sequences_shape[-1]))

    # ---- states -------------------------------------------------------------------------------
    def _initial_states(self, initial_state: Any, batch: int, device, dtype) -> list:
        """One Keras state list per step cell: given, carried (stateful) or zeros."""
        cells = self.step_cells()
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0][0].shape[0] != batch:
                    raise ValueError(f"{self.name}: a stateful layer needs the same batch size in every call; "
                                     f"expected {self.states[0][0].shape[0]}, got {batch} (call reset_states() "
                                     "after changing it)")
                return [[s.to(device) for s in state] for state in self.states]
            return [zero_state(cell, batch, device, dtype) for cell in cells]
        if isinstance(initial_state, torch.Tensor):
            initial_state = [initial_state]
        states = [list(initial_state)] if len(cells) == 1 else [
            list(s) if isinstance(s, (list, tuple)) else [s] for s in initial_state]
        for cell, state in zip(cells, states):
            expected = zero_state(cell, batch, "meta", dtype)
            if len(state) != len(expected) or any(
                    not isinstance(s, torch.Tensor) or tuple(s.shape) != tuple(e.shape)
                    for s, e in zip(state, expected)):
                raise ValueError(f"initial_state: expected tensors of shapes {[tuple(e.shape) for e in expected]} "
                                 f"for {type(cell).__name__}, got "
                                 f"{[tuple(getattr(s, 'shape', ())) for s in state]}")
        return [[s.to(device=device, dtype=dtype) for s in state] for state in states]

    def reset_states(self, states: Any = None) -> None:
        """Zeroes a stateful layer's states (None), or sets them (a list like ``return_state`` gives)."""
        if states is None:
            self.states = None
            return
        first = states[0] if isinstance(states[0], torch.Tensor) else states[0][0]
        self.states = self._initial_states(states, first.shape[0], first.device, first.dtype)

    reset_state = reset_states

    # ---- running ------------------------------------------------------------------------------
    def call(self, sequences: torch.Tensor, initial_state: Any = None, mask: torch.Tensor | None = None):
        if not isinstance(sequences, torch.Tensor) or sequences.dim() != 3:
            got = tuple(sequences.shape) if isinstance(sequences, torch.Tensor) else type(sequences).__name__
            raise ValueError(f"{self.name}: expected inputs of shape (B, T, features), got {got}")
        batch = sequences.shape[0]
        states = self._initial_states(initial_state, batch, sequences.device, sequences.dtype)
        lengths, stepwise = None, not all(isinstance(c, RecurrentCell) for c in self.step_cells())
        if mask is not None:
            mask = mask.to(device=sequences.device, dtype=torch.bool)
            if torch.compiler.is_compiling():    # the mask's values cannot steer a captured graph: the step route
                stepwise = True                  # serves any mask
            elif not bool(mask.all()):
                lengths = right_padding_lengths(mask)
                stepwise = stepwise or lengths is None
        if stepwise:
            sequence, finals = self._run_steps(sequences, states, mask)
        else:
            sequence, finals = self._run_layers(sequences, states, lengths)
        if self.stateful and not symbolic.is_tracing():
            self.states = [[s.detach() for s in state] for state in finals]
        output = sequence if self.return_sequences else sequence[:, -1]
        if not self.return_state:
            return output
        if len(finals) == 1:
            return (output, *finals[0])
        return (output, *finals)

    def _run_layers(self, x: torch.Tensor, states: list, lengths: torch.Tensor | None):
        """Each built-in cell over the whole sequence through its rnnkit layer."""
        if self.go_backwards:
            x = x.flip(1) if lengths is None else reverse_padded(x, lengths)
        finals = []
        for cell, state in zip(self.step_cells(), states):
            x, final = cell.run_sequence(x, state, lengths)
            finals.append(final)
        if lengths is not None:
            x = keras_order(x, lengths, self.go_backwards, self.zero_output_for_mask)
        return x, finals

    def _run_steps(self, x: torch.Tensor, states: list, mask: torch.Tensor | None):
        """Step by step through ``rnnkit.RNN`` under Keras' mask rule (any mask, any cell)."""
        cells = self.step_cells()
        batch = x.shape[0]
        valid = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device) if mask is None else mask.to(x.dtype)
        steps = torch.cat([x, valid[..., None]], dim=-1)                              # (B, T, I + 1)
        if self.go_backwards:
            steps = steps.flip(1)
        for cell in cells:
            if isinstance(cell, RecurrentCell):
                cell.begin_steps(batch, x)
        try:
            output_size = getattr(cells[-1], "output_size", None) or _as_list(cells[-1].state_size)[0]
            start = (tuple(tuple(s) for s in states), x.new_zeros(batch, output_size))
            loop = CoreRNN(MaskedSteps(cells, x.shape[-1], self.zero_output_for_mask))
            sequence, (finals, _) = loop(steps, start)
        finally:
            for cell in cells:
                if isinstance(cell, RecurrentCell):
                    cell.end_steps()
        return sequence, [list(f) for f in finals]

    # ---- masks and config ---------------------------------------------------------------------
    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        output_mask = mask if self.return_sequences else None
        if not self.return_state:
            return output_mask
        cells = self.step_cells()
        count = len(cells) if len(cells) > 1 else len(_as_list(self.cell.state_size))
        return [output_mask] + [None] * count

    def get_config(self) -> dict:
        from ..serialization import serialize_layer
        config = super().get_config()
        config.update(return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      zero_output_for_mask=self.zero_output_for_mask,
                      activity_regularizer=regularizers.serialize(self.activity_regularizer),
                      cell=serialize_layer(self.cell))
        return config

    @classmethod
    def from_config(cls, config: dict) -> "RNN":
        from ..serialization import deserialize_layer
        config = dict(config)
        return cls(deserialize_layer(config.pop("cell")), **config)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _CellLayer(RNN):
    """SimpleRNN / LSTM / GRU: an ``RNN`` over one built-in cell made from the same arguments.

    The cell's arguments and the RNN's arguments are accepted together (Keras' flat signature);
    the cell's settings read back as attributes (``layer.units``, ``layer.dropout``, ...).
    """

    cell_class: type = SimpleRNNCell
    rnn_arguments = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                     "zero_output_for_mask", "activity_regularizer", "name", "trainable", "dtype", "input_shape",
                     "input_dim", "batch_input_shape", "batch_size")

    def __init__(self, units: int, *args: Any, **kwargs: Any):
        kwargs.pop("use_cudnn", None)
        kwargs.pop("implementation", None)
        rnn_kwargs = {key: kwargs.pop(key) for key in self.rnn_arguments if key in kwargs}
        cell = self.cell_class(units, *args, trainable=rnn_kwargs.get("trainable", True), **kwargs)
        super().__init__(cell, **rnn_kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            cell = self._modules.get("cell")
            if cell is not None and not name.startswith("_") and name in cell.__dict__:
                return cell.__dict__[name]
            raise

    def get_config(self) -> dict:
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "RNN":
        return cls(**config)


class SimpleRNN(_CellLayer):
    """Keras' ``SimpleRNN(units, activation="tanh", use_bias=True, ..., return_sequences=False, ...)``.

    ``h_t = φ(x_t kernel + h_{t-1} recurrent_kernel + bias)`` by :class:`rnnkit.SimpleRNN`.
    Arguments: :class:`~rnnkit.keras.layers.cells.RecurrentCell`'s and :class:`RNN`'s.
    """

    cell_class = SimpleRNNCell


class LSTM(_CellLayer):
    """Keras' ``LSTM(units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, ...)``.

    By :class:`rnnkit.LSTM`. Arguments: :class:`~rnnkit.keras.layers.cells.LSTMCell`'s and :class:`RNN`'s;
    ``use_cudnn`` and ``implementation`` are accepted and ignored. ``return_state`` gives ``output, h, c``.
    """

    cell_class = LSTMCell


class GRU(_CellLayer):
    """Keras' ``GRU(units, ..., reset_after=True)`` by :class:`rnnkit.GRU`.

    Arguments: :class:`~rnnkit.keras.layers.cells.GRUCell`'s and :class:`RNN`'s.
    """

    cell_class = GRUCell
