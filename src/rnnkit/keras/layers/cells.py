"""Keras' recurrent cells on rnnkit's cells: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, ``StackedRNNCells``.

A Keras cell builds a one-layer rnnkit layer (``rnnkit.SimpleRNN`` / ``LSTM`` / ``GRU``) at its first
call and keeps no weights of its own: its Keras weights are views of the rnnkit cell's parameters.

    Keras weight          shape            rnnkit parameters
    kernel                (I, G*units)     weight_ih^T, gate blocks reordered
    recurrent_kernel      (units, G*units) weight_hh^T, gate blocks reordered
    bias                  (G*units)        bias_ih (bias_hh is a fixed zero buffer)
    bias (GRU, reset_after=True) (2, 3*units)  [bias_ih; bias_hh]

Gate orders: LSTM Keras i,f,c,o = torch i,f,g,o; GRU Keras z,r,h = torch r,z,n (blocks 0 and 1 swap).
The equations are the rnnkit cells' (docs/cells.md); Keras 3's are the same.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ... import GRU as CoreGRU
from ... import LSTM as CoreLSTM
from ... import SimpleRNN as CoreSimpleRNN
from ...cells import LSTMState
from ...cells.base import map_state
from ...recurrent.regularization import recurrent_dropout_mask
from .. import activations, constraints, initializers, regularizers
from .base import Layer

_WEIGHT_OPTIONS = ("kernel", "recurrent", "bias")


def reorder_blocks(w: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
    """``cat([blocks[k] for k in order])`` over the first axis split into ``len(order)`` gate blocks."""
    blocks = w.chunk(len(order), dim=0)
    return torch.cat([blocks[k] for k in order], dim=0)


def inverse_order(order: tuple[int, ...]) -> tuple[int, ...]:
    inverse = [0] * len(order)
    for position, block in enumerate(order):
        inverse[block] = position
    return tuple(inverse)


def _rate(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a rate in [0, 1), got {value!r}")
    return float(value)


class RecurrentCell(Layer):
    """Base of the Keras cells: arguments, weight views, one step and the whole-sequence run.

    Arguments (Keras 3's names and defaults):
        units: positive integer, the size of ``h``.
        activation: φ (default ``"tanh"``; None is linear).  use_bias: whether the cell has biases.
        kernel_initializer / recurrent_initializer / bias_initializer: ``"glorot_uniform"``,
            ``"orthogonal"``, ``"zeros"`` by default; names, config dicts or initializer objects.
        kernel_regularizer / recurrent_regularizer / bias_regularizer: added to the loss in ``fit``.
        kernel_constraint / recurrent_constraint / bias_constraint: applied after each update in ``fit``.
        dropout: input dropout rate, one mask per sequence.  recurrent_dropout: rnnkit's variational
            dropout on ``h_{t-1}``, one mask per sequence shared by every gate.
        seed: accepted for Keras compatibility; masks come from torch's global generator.
    """

    core_class: type = CoreSimpleRNN
    keras_order: tuple[int, ...] = (0,)      # Keras gate block k is torch block keras_order[k]
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = initializers.get(recurrent_initializer, "recurrent_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer, "recurrent_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.recurrent_constraint = constraints.get(recurrent_constraint, "recurrent_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self.dropout = _rate(dropout, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self._step_masks: dict[str, torch.Tensor] = {}

    # ---- shape of the state -------------------------------------------------------------------
    @property
    def state_size(self) -> int | list[int]:
        return self.units if len(self.state_names) == 1 else [self.units] * len(self.state_names)

    @property
    def output_size(self) -> int:
        return self.units

    def get_initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> list[torch.Tensor]:
        return [torch.zeros(batch_size, self.units, device=device, dtype=dtype) for _ in self.state_names]

    # ---- building -----------------------------------------------------------------------------
    def core_options(self) -> dict:
        """The rnnkit cell options this Keras cell sets (activations, ``reset_after``)."""
        return {"nonlinearity": activations.cell_name(self.activation)}

    def has_recurrent_bias(self) -> bool:
        """Whether Keras keeps a separate recurrent bias (GRU with reset_after=True)."""
        return False

    def build(self, input_shape: Any) -> None:
        input_dim = int(input_shape[-1])
        self.core = self.core_class(input_dim, self.units, bias=self.use_bias,
                                    recurrent_dropout=self.recurrent_dropout, **self.core_options())
        cell = self.rnn_cell
        gates = len(self.keras_order)
        if self.use_bias and not self.has_recurrent_bias():
            del cell.bias_hh
            cell.register_buffer("bias_hh", torch.zeros(gates * self.units), persistent=False)
        self._declare_weights(cell, input_dim, gates)

    def _declare_weights(self, cell: nn.Module, input_dim: int, gates: int) -> None:
        order, inverse = self.keras_order, inverse_order(self.keras_order)

        def view(param_name: str):
            def read() -> torch.Tensor:
                return reorder_blocks(getattr(cell, param_name), order).t()

            def write(value: torch.Tensor) -> None:
                param = getattr(cell, param_name)
                param.copy_(reorder_blocks(value.t().to(param.dtype), inverse))
            return read, write

        self.add_variable_view("kernel", (input_dim, gates * self.units), *view("weight_ih"),
                               self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint)
        self.add_variable_view("recurrent_kernel", (self.units, gates * self.units), *view("weight_hh"),
                               self.recurrent_initializer, self.recurrent_regularizer, self.recurrent_constraint)
        if not self.use_bias:
            return
        if self.has_recurrent_bias():
            def read() -> torch.Tensor:
                return torch.stack([reorder_blocks(cell.bias_ih, order), reorder_blocks(cell.bias_hh, order)])

            def write(value: torch.Tensor) -> None:
                cell.bias_ih.copy_(reorder_blocks(value[0].to(cell.bias_ih.dtype), inverse))
                cell.bias_hh.copy_(reorder_blocks(value[1].to(cell.bias_hh.dtype), inverse))
            shape = (2, gates * self.units)
        else:
            def read() -> torch.Tensor:
                return reorder_blocks(cell.bias_ih, order)

            def write(value: torch.Tensor) -> None:
                cell.bias_ih.copy_(reorder_blocks(value.to(cell.bias_ih.dtype), inverse))
            shape = (gates * self.units,)
        self.add_variable_view("bias", shape, read, write, self.bias_init_function(), self.bias_regularizer,
                               self.bias_constraint)

    def bias_init_function(self):
        return self.bias_initializer

    @property
    def rnn_cell(self) -> nn.Module:
        """The rnnkit cell doing the work (``rnnkit.SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell``)."""
        return self.core.cells[0]

    # ---- state conversion ---------------------------------------------------------------------
    def to_core_state(self, states: list[torch.Tensor]) -> Any:
        """Keras' state list ``[h]`` (LSTM ``[h, c]``) -> the rnnkit cell's state."""
        return states[0]

    def from_core_state(self, state: Any) -> list[torch.Tensor]:
        return [state]

    # ---- running ------------------------------------------------------------------------------
    def begin_steps(self, batch: int, like: torch.Tensor) -> None:
        """Draws this sequence's dropout masks for step-by-step calls (Keras' DropoutRNNCell)."""
        self._step_masks = {}
        if self.training and self.dropout:
            self._step_masks["input"] = recurrent_dropout_mask(like.new_empty(batch, self.rnn_cell.input_size),
                                                               self.dropout)
        if self.training and self.recurrent_dropout:
            self._step_masks["recurrent"] = recurrent_dropout_mask(like.new_empty(batch, self.units),
                                                                   self.recurrent_dropout)

    def end_steps(self) -> None:
        self._step_masks = {}

    def call(self, inputs: torch.Tensor, states: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step: ``inputs (B, I)``, ``states`` Keras' list -> ``(output (B, units), new_states)``."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        x_t = inputs * self._step_masks["input"] if "input" in self._step_masks else inputs
        y_t, state = self.rnn_cell(x_t, self.to_core_state(states), self._step_masks.get("recurrent"))
        return y_t, self.from_core_state(state)

    def run_sequence(self, x: torch.Tensor, states: list[torch.Tensor], lengths: torch.Tensor | None):
        """The whole sequence at once through the rnnkit layer (its fast paths).

        ``x (B, T, I)`` right-padded to ``lengths``; returns ``(y (B, T, units) zero at padding, final_states)``.
        """
        if self.training and self.dropout:
            x = x * recurrent_dropout_mask(x[:, 0], self.dropout)[:, None, :]          # (B, T, I)
        state = map_state(lambda s: s.unsqueeze(0), self.to_core_state(list(states)))  # (1, B, units)
        y, final = self.core(x, state, lengths=lengths)
        return y, self.from_core_state(map_state(lambda s: s[0], final))

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      dropout=self.dropout, recurrent_dropout=self.recurrent_dropout, seed=self.seed)
        for weight in _WEIGHT_OPTIONS:
            config[f"{weight}_initializer"] = initializers.serialize(getattr(self, f"{weight}_initializer"))
            config[f"{weight}_regularizer"] = regularizers.serialize(getattr(self, f"{weight}_regularizer"))
            config[f"{weight}_constraint"] = constraints.serialize(getattr(self, f"{weight}_constraint"))
        return config


class SimpleRNNCell(RecurrentCell):
    r"""Keras' ``SimpleRNNCell`` on :class:`rnnkit.SimpleRNNCell`.

    ``h_t = φ(x_t kernel + h_{t-1} recurrent_kernel + bias)``; arguments: :class:`RecurrentCell`'s.
    """


class LSTMCell(RecurrentCell):
    r"""Keras' ``LSTMCell`` on :class:`rnnkit.LSTMCell` (gates i, f, c, o = torch's i, f, g, o).

    Extra arguments: ``recurrent_activation`` σ (default ``"sigmoid"``), ``unit_forget_bias``
    (default True: the forget-gate bias starts at 1 and the other biases from ``bias_initializer``).
    State: ``[h, c]``.
    """

    core_class = CoreLSTM
    keras_order = (0, 1, 2, 3)
    state_names = ("h", "c")

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def core_options(self) -> dict:
        return {"activation": activations.cell_name(self.activation),
                "recurrent_activation": activations.cell_name(self.recurrent_activation)}

    def bias_init_function(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def unit_forget(shape, dtype=None):
            return torch.cat([init((units,), dtype), torch.ones(units, dtype=dtype or torch.float32),
                              init((2 * units,), dtype)])
        return unit_forget

    def to_core_state(self, states):
        return LSTMState(states[0], states[1])

    def from_core_state(self, state):
        return [state.h, state.c]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                      unit_forget_bias=self.unit_forget_bias)
        return config


class GRUCell(RecurrentCell):
    r"""Keras' ``GRUCell`` on :class:`rnnkit.GRUCell` (gates z, r, h = torch's z, r, n reordered to r, z, n).

    Extra arguments: ``recurrent_activation`` (default ``"sigmoid"``) and ``reset_after`` (default True:
    ``n = φ(x W_n + b_in + r * (h W_hn + b_hn))`` with the bias ``(2, 3*units)``; False: Cho et al.'s
    ``n = φ(x W_n + b_n + (r * h) W_hn)`` with the bias ``(3*units)``).
    """

    core_class = CoreGRU
    keras_order = (1, 0, 2)

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, reset_after: bool = True, **kwargs: Any):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def core_options(self) -> dict:
        return {"activation": activations.cell_name(self.activation),
                "recurrent_activation": activations.cell_name(self.recurrent_activation),
                "reset_after": self.reset_after}

    def has_recurrent_bias(self) -> bool:
        return self.reset_after

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                      reset_after=self.reset_after)
        return config


class StackedRNNCells(Layer):
    """Several cells stepped together: cell k reads cell k-1's output; the state is one list per cell."""

    def __init__(self, cells: list, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"cells: expected a non-empty list of RNN cells, got {cells!r}")
        self.cells = nn.ModuleList(cells)

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        for cell in self.cells:
            cell.ensure_built(shape)
            shape = (*shape[:-1], cell.output_size)

    def get_initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> list:
        return [zero_state(cell, batch_size, device, dtype) for cell in self.cells]

    def call(self, inputs: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        new_states = []
        for cell, state in zip(self.cells, states):
            inputs, new = cell.call(inputs, state)
            new_states.append(new)
        return inputs, new_states

    def get_config(self) -> dict:
        from ..serialization import serialize_layer
        config = super().get_config()
        config["cells"] = [serialize_layer(cell) for cell in self.cells]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "StackedRNNCells":
        from ..serialization import deserialize_layer
        config = dict(config)
        return cls([deserialize_layer(c) for c in config.pop("cells")], **config)


def zero_state(cell: Any, batch_size: int, device, dtype) -> list[torch.Tensor]:
    """A cell's zero state as Keras' list: its ``get_initial_state`` or zeros of ``state_size``."""
    if hasattr(cell, "get_initial_state"):
        try:
            return list(cell.get_initial_state(batch_size, device=device, dtype=dtype))
        except TypeError:
            return list(cell.get_initial_state(batch_size))
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    return [torch.zeros(batch_size, size, device=device, dtype=dtype) for size in sizes]
