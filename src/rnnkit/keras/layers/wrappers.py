"""Keras' layer wrappers: ``Bidirectional`` and ``TimeDistributed``."""
from __future__ import annotations

from typing import Any

import torch

from ...recurrent.bidirectional import MERGE_MODES, merge_directions
from .base import Layer


class Bidirectional(Layer):
    """A forward and a backward copy of a recurrent layer, merged (``keras.layers.Bidirectional``).

    ``y_t = merge(fwd_t, bwd_t)``; the backward layer runs with ``go_backwards=True`` and its output
    sequence is flipped back to input order, so with right-padded masks it equals rnnkit's
    padding-aware :class:`rnnkit.Bidirectional`. Both directions output zeros at masked steps when
    returning sequences (Keras sets ``zero_output_for_mask`` the same way).

    Arguments:
        layer: a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN``); like Keras, the forward
            layer is rebuilt from its config (fresh weights), named ``forward_<name>``.
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"``, or None (a list of both).
        backward_layer: an explicit backward layer (must have ``go_backwards=True``); default a copy of
            ``layer`` with ``go_backwards=True``, named ``backward_<name>``.
    ``call(sequences, initial_state=None, mask=None)``: ``initial_state`` lists the forward states then
    the backward ones; ``return_state`` returns ``output, *forward_states, *backward_states``.
    """

    supports_masking = True

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Layer | None = None, **kwargs: Any):
        from ..serialization import deserialize_layer, serialize_layer
        super().__init__(**kwargs)
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"layer: expected a Keras recurrent layer, got {type(layer).__name__}")
        spec = serialize_layer(layer)
        spec["config"]["name"] = "forward_" + layer.name.removeprefix("forward_")
        self.forward_layer = deserialize_layer(spec)
        if backward_layer is None:
            spec = serialize_layer(layer)
            spec["config"].update(go_backwards=not layer.go_backwards,
                                  name="backward_" + layer.name.removeprefix("backward_"))
            backward_layer = deserialize_layer(spec)
        self.backward_layer = backward_layer
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attribute) != getattr(self.backward_layer, attribute):
                raise ValueError(f"backward_layer: expected {attribute}={getattr(self.forward_layer, attribute)} "
                                 f"like the forward layer, got {getattr(self.backward_layer, attribute)}")
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("backward_layer: expected a go_backwards value different from the forward layer's")
        for direction in (self.forward_layer, self.backward_layer):
            direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.stateful = self.forward_layer.stateful
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self._initial_weights = weights

    def build(self, input_shape: Any) -> None:
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, sequences: torch.Tensor, initial_state: Any = None, mask: torch.Tensor | None = None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask)
        states: tuple = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        output = merge_directions(y, y_rev, self.merge_mode)
        if self.merge_mode is None:
            output = list(output)
        if self.return_state:
            return (*output, *states) if self.merge_mode is None else (output, *states)
        return output

    def reset_states(self, states: Any = None) -> None:
        """Resets both directions (``states``: forward states then backward ones)."""
        half = None if states is None else len(states) // 2
        self.forward_layer.reset_states(None if states is None else states[:half])
        self.backward_layer.reset_states(None if states is None else states[half:])

    reset_state = reset_states

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if not self.return_state:
            return masks if self.merge_mode is None else output_mask
        state_count = len(self.forward_layer.compute_mask(inputs, mask)) - 1
        return masks + [None] * (2 * state_count)

    def get_config(self) -> dict:
        from ..serialization import serialize_layer
        config = super().get_config()
        config.update(layer=serialize_layer(self.forward_layer), merge_mode=self.merge_mode,
                      backward_layer=serialize_layer(self.backward_layer))
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        from ..serialization import deserialize_layer
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        return cls(layer, backward_layer=None if backward is None else deserialize_layer(backward), **config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(B, T, ...) -> (B*T, ...) -> layer -> (B, T, ...)``.

    The mask passes through unchanged.
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"layer: expected a Keras layer, got {type(layer).__name__}")
        self.layer = layer

    def build(self, input_shape: Any) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"{self.name}: expected inputs of rank >= 3 (B, T, ...), got shape {input_shape}")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        batch, time = inputs.shape[:2]
        y = self.layer(inputs.reshape(batch * time, *inputs.shape[2:]))               # (B*T, ...)
        return y.reshape(batch, time, *y.shape[1:])                                   # (B, T, ...)

    def get_config(self) -> dict:
        from ..serialization import serialize_layer
        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "TimeDistributed":
        from ..serialization import deserialize_layer
        config = dict(config)
        return cls(deserialize_layer(config.pop("layer")), **config)
