"""``Model``: a Keras layer that can be compiled, trained, summarised, saved and reset.

``Model(inputs, outputs)`` builds a functional graph (:class:`~rnnkit.keras.models.functional.Functional`);
subclassing ``Model`` and writing ``call`` works as in Keras (layers assigned as attributes are tracked).
"""
from __future__ import annotations

from typing import Any

from ..layers.base import Layer
from .training import TrainingMixin


class Model(TrainingMixin, Layer):
    """Base of Sequential, Functional and user models.

    Attributes (after ``compile``): optimizer, loss, loss_weights, compiled_metrics; ``history`` after ``fit``;
    ``stop_training`` for callbacks.
    """

    sets_output_mask = False

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is Model and (args or "inputs" in kwargs):
            from .functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._optimizer_state = None
        self._active_trainer = None

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in order (functional models: Keras' order, inputs first)."""
        return self.sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in ``layers``.

        Raises:
            ValueError: no such layer.
        """
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"index: expected an index below {len(layers)}, got {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: no layer named {name!r}; layers are {[layer.name for layer in layers]}")

    def reset_states(self) -> None:
        """Resets the states of every stateful recurrent layer inside."""
        for module in self.modules():
            if module is not self and getattr(module, "stateful", False) and hasattr(module, "reset_states") \
                    and not hasattr(module, "forward_layer"):
                module.reset_states()

    reset_state = reset_states

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> None:
        """Prints Keras' table of layers, output shapes and parameter counts (``print_fn(line)`` if given)."""
        from .summary import summary_lines
        for line in summary_lines(self, line_length or 80):
            (print_fn or print)(line)

    def save(self, filepath: Any, overwrite: bool = True, **unused: Any) -> None:
        """Writes the model as a zip of ``config.json`` and ``model.safetensors`` (no pickle)."""
        from .saving import save_model
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Writes the weights: ``*.h5`` in Keras 3's ``.weights.h5`` layout, anything else as safetensors."""
        from .saving import save_weights
        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Reads weights from a Keras 3 ``.weights.h5`` or ``.keras`` file, or from this front's files."""
        from .saving import load_weights
        load_weights(self, filepath)
