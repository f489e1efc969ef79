"""Keras' ``Lambda``: a Python function as a layer (``Lambda(lambda x: x[:, 0])``)."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from .base import Layer


class Lambda(Layer):
    """``y = function(x, **arguments)``; the function also gets ``mask`` / ``training`` when it takes them.

    Arguments (Keras 3's): function, output_shape (accepted; shapes are found by running the function),
    mask (None, a fixed mask, or ``mask(inputs, input_mask)``), arguments (keyword arguments of the call).
    Unlike Keras, a Lambda layer cannot be saved in a model config: rnnkit never runs code read from a file.
    """

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"function: expected a callable, got {type(function).__name__}")
        self.function, self.mask = function, mask                  # output_shape: accepted, not needed
        self.arguments = dict(arguments or {})
        parameters = inspect.signature(function).parameters
        self._takes = {name for name in ("mask", "training") if name in parameters}

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        extra = {"mask": mask, "training": training}
        return self.function(inputs, **self.arguments, **{name: extra[name] for name in self._takes})

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict:
        raise ValueError(f"{self.name}: a Lambda layer's Python function cannot be saved in a config (rnnkit "
                         "never runs code read from a file); save the weights, or write the function as a Layer "
                         "subclass")
