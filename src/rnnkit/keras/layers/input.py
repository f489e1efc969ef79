"""``Input(shape)`` / ``InputLayer``: the start of a functional graph (a placeholder KerasTensor)."""
from __future__ import annotations

from typing import Any

from .base import Layer, torch_dtype
from .symbolic import KerasTensor, Node


class InputLayer(Layer):
    """Holds the placeholder of one model input: ``batch_shape`` (None = any size) and ``dtype``.

    Arguments (Keras 3's): shape (without the batch), batch_size, dtype (``"float32"`` default;
    integer dtypes give int64 indices), batch_shape (instead of shape and batch_size), name.
    """

    def __init__(self, shape: tuple | None = None, batch_size: int | None = None, dtype: Any = None,
                 sparse: bool | None = None, batch_shape: tuple | None = None, name: str | None = None,
                 input_tensor: Any = None, optional: bool = False, **kwargs: Any):
        if sparse:
            raise ValueError("sparse: rnnkit.keras has no sparse inputs; got sparse=True")
        if batch_shape is None:
            if shape is None:
                raise ValueError("shape: expected the input shape without the batch dimension, got None")
            batch_shape = (batch_size, *tuple(shape))
        super().__init__(name=name, dtype=dtype if isinstance(dtype, str) else None, **kwargs)
        self.batch_shape = tuple(batch_shape)
        self.input_dtype = torch_dtype(dtype)
        self._dtype_name = "float32" if dtype is None else str(dtype)
        self.output = KerasTensor(self.batch_shape, self.input_dtype, name=self.name)
        self.output.node = Node(self, (), {}, self.output)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return inputs

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self._dtype_name, "name": self.name}


def Input(shape: tuple | None = None, batch_size: int | None = None, dtype: Any = None, sparse: bool | None = None,
          batch_shape: tuple | None = None, name: str | None = None, tensor: Any = None,
          optional: bool = False) -> KerasTensor:
    """A placeholder for a model input (Keras' ``keras.Input``): ``Input(shape=(None, 1))``."""
    return InputLayer(shape, batch_size, dtype, sparse, batch_shape, name, tensor, optional).output
