"""``Sequential``: a stack of single-input, single-output layers."""
from __future__ import annotations

from typing import Any

from torch import nn

from ..layers.base import Layer
from ..layers.input import Input, InputLayer
from ..layers.symbolic import KerasTensor
from .model import Model


class Sequential(Model):
    """``Sequential([layers...])``: each layer reads the previous one's output (masks ride along).

    The model builds at its first call (input sizes inferred) or at once when it starts with
    ``Input(shape)`` / an ``InputLayer`` or its first layer has ``input_shape``.
    """

    def __init__(self, layers: list | None = None, trainable: bool = True, name: str | None = None, **kwargs: Any):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.stack = nn.ModuleList()
        self._input: KerasTensor | None = None
        self._output: KerasTensor | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Appends a layer (or, first, an ``Input`` placeholder that builds the model).

        Raises:
            ValueError: not a layer, or an Input after the first layer.
        """
        if isinstance(layer, (KerasTensor, InputLayer)):
            if len(self.stack) or self._input is not None:
                raise ValueError("layer: an Input can only start a Sequential model")
            self._input = self._output = layer.output if isinstance(layer, InputLayer) else layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"layer: expected a rnnkit.keras layer, got {type(layer).__name__}")
        if not len(self.stack) and self._input is None and layer._batch_input_shape is not None:
            self._input = self._output = Input(batch_shape=layer._batch_input_shape)
        self.stack.append(layer)
        if self._output is not None:
            self._output = layer(self._output)
            self.built = True

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not len(self.stack):
            raise ValueError("pop: the model has no layers")
        layer = self.stack[-1]
        del self.stack[-1]
        return layer

    def build(self, input_shape: Any = None) -> None:
        """Builds the layers for inputs of ``input_shape`` (batch first) by tracing a placeholder."""
        if self._input is not None:
            return
        if input_shape is None:
            raise ValueError(f"{self.name}: build needs the input shape, e.g. (None, timesteps, features)")
        self._input = self._output = Input(batch_shape=(None, *tuple(input_shape)[1:]))
        for layer in self.stack:
            self._output = layer(self._output)

    def call(self, inputs: Any) -> Any:
        x = inputs
        for layer in self.stack:
            x = layer(x)
        return x

    @property
    def input_shape(self) -> tuple | None:
        return None if self._input is None else self._input.shape

    def get_config(self) -> dict:
        from ..serialization import serialize_layer
        config = super().get_config()
        config["layers"] = [serialize_layer(layer) for layer in self.stack]
        if self._input is not None:
            config["input"] = {"batch_shape": list(self._input.shape), "dtype": str(self._input.dtype)}
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        from ..serialization import deserialize_layer
        config = dict(config)
        layers = [deserialize_layer(spec) for spec in config.pop("layers")]
        spec = config.pop("input", None)
        config.pop("batch_input_shape", None)
        config.pop("dtype", None)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if spec is not None:
            model.add(Input(batch_shape=tuple(spec["batch_shape"]), dtype=spec["dtype"].replace("torch.", "")))
        for layer in layers:
            model.add(layer)
        return model
