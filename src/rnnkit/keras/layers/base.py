"""``Layer``: the Keras-style base of every layer of the front (an ``nn.Module`` built at first call).

What it adds to ``nn.Module``:

- lazy building: ``build(input_shape)`` runs at the first call, so input sizes are inferred;
- Keras' view of the weights: :class:`Variable` objects in Keras' layout and order
  (``weights``, ``get_weights``, ``set_weights``, ``count_params``), each with an optional
  regularizer (``losses``) and constraint (``apply_constraints``);
- masks: a layer's output carries ``_keras_mask`` (as in Keras 3), which the next layer receives as
  its ``mask`` argument unless one is passed;
- inference by default: calls run in evaluation mode unless ``training=True`` is passed
  (``fit`` trains in training mode), as Keras does;
- the functional API: a call on :class:`~rnnkit.keras.layers.symbolic.KerasTensor` records a graph node.
"""
from __future__ import annotations

import collections
import contextlib
import inspect
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import initializers, regularizers
from .. import constraints as constraints_module
from .._serial import to_snake_case
from . import symbolic

_NAME_COUNTS: collections.Counter = collections.Counter()
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "int32": torch.long, "int64": torch.long, "int16": torch.long,
           "int8": torch.long, "uint8": torch.long, "bool": torch.bool}


def unique_name(prefix: str) -> str:
    """Keras' automatic names: ``lstm``, ``lstm_1``, ``lstm_2``, ..."""
    count = _NAME_COUNTS[prefix]
    _NAME_COUNTS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session() -> None:
    """Restarts the automatic layer names (Keras' ``keras.backend.clear_session``)."""
    _NAME_COUNTS.clear()


def torch_dtype(dtype: Any, argument: str = "dtype") -> torch.dtype:
    """A torch dtype from a Keras dtype name (integers become int64), a torch dtype, or None (float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):   # a Keras DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"{argument}: expected one of {sorted(_DTYPES)} or a torch dtype, got {dtype!r}")


def to_tensor(value: Any) -> Any:
    """numpy arrays / Python numbers to tensors (floats to float32, integers to int64); tensors pass."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, symbolic.KerasTensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, float, int)) or (
            isinstance(value, list) and value and not isinstance(value[0], (torch.Tensor, np.ndarray))):
        array = np.asarray(value)
        if array.dtype.kind == "f":
            return torch.as_tensor(array, dtype=torch.float32)
        if array.dtype.kind in "iu":
            return torch.as_tensor(array, dtype=torch.long)
        if array.dtype.kind == "b":
            return torch.as_tensor(array)
        raise ValueError(f"inputs: expected numbers, got an array of dtype {array.dtype}")
    return value


def get_mask(tensor: Any) -> torch.Tensor | None:
    """The Keras mask riding on a tensor (``(B, T)`` booleans), or None."""
    return getattr(tensor, "_keras_mask", None)


def set_mask(tensor: Any, mask: torch.Tensor | None) -> None:
    if isinstance(tensor, torch.Tensor):
        tensor._keras_mask = mask


class Variable:
    """One weight as Keras sees it: a name, a shape, and a view of torch tensors in Keras' layout.

    Arguments:
        read: returns the weight in Keras' layout, differentiable (regularizers use it).
        write: stores a tensor given in Keras' layout into the underlying torch parameters.
    """

    def __init__(self, layer: "Layer", name: str, shape: tuple[int, ...], read: Callable[[], torch.Tensor],
                 write: Callable[[torch.Tensor], None], regularizer=None, constraint=None, trainable: bool = True):
        self.layer, self.name, self.shape = layer, name, tuple(shape)
        self.read, self._write = read, write
        self.regularizer, self.constraint, self.trainable = regularizer, constraint, trainable

    @property
    def path(self) -> str:
        return f"{self.layer.name}/{self.name}"

    def value(self) -> torch.Tensor:
        return self.read()

    def numpy(self) -> np.ndarray:
        return self.read().detach().cpu().numpy()

    def assign(self, value: Any) -> None:
        """Sets the weight from an array in Keras' layout.

        Raises:
            ValueError: the shape differs from this weight's.
        """
        tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        if tuple(tensor.shape) != self.shape:
            raise ValueError(f"{self.path}: expected a weight of shape {self.shape}, got {tuple(tensor.shape)}")
        with torch.no_grad():
            self._write(tensor)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}>"


class Layer(nn.Module):
    """Base of the Keras-compatible layers.

    Arguments:
        name: the layer's name (default: the snake-case class name, numbered when repeated).
        trainable: False freezes every weight (``requires_grad=False``).
        dtype: accepted for Keras compatibility; the front computes in float32.
        input_shape / input_dim / batch_input_shape / batch_size: Keras 2's way of giving the first
            layer of a ``Sequential`` its input shape (without the batch dimension).
    Subclasses implement ``build(input_shape)`` (creating weights with :meth:`add_weight` or
    :meth:`add_variable_view`), ``call(inputs, ...)``, and, when they change it, ``compute_mask``.
    """

    supports_masking = False
    sets_output_mask = True      # models leave the masks their last layers put on the outputs

    def __init__(self, name: str | None = None, trainable: bool = True, dtype: Any = None,
                 input_shape: tuple | None = None, input_dim: int | None = None,
                 batch_input_shape: tuple | None = None, batch_size: int | None = None, **kwargs: Any):
        if kwargs:
            raise ValueError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        super().__init__()
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._dtype_name = "float32" if dtype is None or isinstance(dtype, dict) else str(dtype).replace("torch.", "")
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None or input_dim is not None:
            shape = tuple(input_shape) if input_shape is not None else (input_dim,)
            self._batch_input_shape = (batch_size, *shape)
        else:
            self._batch_input_shape = None
        self.built = False
        self._variables: list[Variable] = []
        self._activity_losses: list[torch.Tensor] = []
        self.output_shape_record: Any = None
        self.train(False)

    # ---- building ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch dimension first)."""

    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable: bool = True,
                   regularizer=None, constraint=None, name: str | None = None, **unused: Any) -> nn.Parameter:
        """Creates a parameter in Keras' layout (Keras 3's signature) and returns it."""
        shape = tuple(int(s) for s in (shape or ()))
        name = name or f"variable_{len(self._variables)}"
        init = initializers.get(initializer, f"{self.name}.{name} initializer")
        param = nn.Parameter(init(shape, torch_dtype(dtype)), requires_grad=bool(trainable) and self._trainable)
        attribute = name if not hasattr(self, name) else f"{name}_{len(self._variables)}"
        self.register_parameter(attribute, param)

        def write(tensor: torch.Tensor) -> None:
            param.copy_(tensor.to(param.dtype))
        self._variables.append(Variable(self, name, shape, lambda: param, write,
                                        regularizers.get(regularizer, f"{name}_regularizer"),
                                        constraints_module.get(constraint, f"{name}_constraint"), bool(trainable)))
        return param

    def add_variable_view(self, name: str, shape: tuple[int, ...], read: Callable[[], torch.Tensor],
                          write: Callable[[torch.Tensor], None], initializer=None, regularizer=None,
                          constraint=None) -> Variable:
        """Declares a Keras weight stored elsewhere (e.g. in an rnnkit cell) and initialises it."""
        variable = Variable(self, name, shape, read, write, regularizer, constraint)
        if initializer is not None:
            variable.assign(initializer(shape))
        self._variables.append(variable)
        return variable

    def ensure_built(self, input_shape: Any) -> None:
        """Runs ``build(input_shape)`` once."""
        if not self.built:
            self.build(input_shape)
            self.built = True
            self._apply_trainable()
            self.train(self.training)   # modules created in build start in torch's training mode

    # ---- calling ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if symbolic.has_keras_tensor((args, kwargs)):
            return symbolic.symbolic_call(self, args, kwargs)
        args = symbolic.map_structure(to_tensor, args)
        inputs = args[0]
        training = kwargs.pop("training", None)
        parameters = self.call_parameters()
        mask = kwargs.pop("mask", None)
        if mask is None:
            mask = symbolic.map_structure(get_mask, inputs)
        if "mask" in parameters:
            kwargs["mask"] = mask
        self.ensure_built(symbolic.map_structure(
            lambda t: tuple(t.shape) if isinstance(t, torch.Tensor) else t, inputs))
        with self._mode(training):
            if "training" in parameters:
                kwargs["training"] = self.training
            outputs = super().__call__(*args, **kwargs)
            self._activity_losses = self._activity_regularization(outputs)
        if self.sets_output_mask:
            out_mask = self.compute_mask(inputs, mask)
            if isinstance(outputs, (tuple, list)) and isinstance(out_mask, (tuple, list)):
                for output, output_mask in zip(outputs, out_mask):
                    set_mask(output, output_mask)
            elif not isinstance(outputs, (tuple, list)):
                set_mask(outputs, out_mask)
        if self.output_shape_record is None and not symbolic.is_tracing():
            self.output_shape_record = symbolic.map_structure(
                lambda t: (None, *t.shape[1:]) if isinstance(t, torch.Tensor) else t, outputs)
        return outputs

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.call")

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the output: the input's when the layer ``supports_masking``, else None."""
        return mask if self.supports_masking else None

    @contextlib.contextmanager
    def _mode(self, training: bool | None):
        if training is None or bool(training) == self.training:
            yield
            return
        previous = self.training
        self.train(bool(training))
        try:
            yield
        finally:
            self.train(previous)

    def call_parameters(self) -> frozenset:
        """The parameter names of ``call`` (which of ``mask`` / ``training`` it takes), cached per class."""
        cls = type(self)
        cached = cls.__dict__.get("_call_parameter_cache")
        if cached is None:
            cached = frozenset(inspect.signature(self.call).parameters)
            setattr(cls, "_call_parameter_cache", cached)
        return cached

    def _activity_regularization(self, outputs: Any) -> list[torch.Tensor]:
        regularizer = getattr(self, "activity_regularizer", None)
        if regularizer is None:
            return []
        return [regularizer(out) / out.shape[0] for out in symbolic.flatten(outputs)
                if isinstance(out, torch.Tensor) and out.dim() > 0]

    # ---- weights ----------------------------------------------------------------------------
    def sublayers(self) -> list["Layer"]:
        """The directly nested Keras layers (in nn.ModuleList / ModuleDict containers too), in order."""
        found = []
        for child in self.children():
            if isinstance(child, Layer):
                found.append(child)
            elif isinstance(child, (nn.ModuleList, nn.ModuleDict)):
                found.extend(m for m in child.children() if isinstance(m, Layer))
        return found

    def own_weights(self) -> list[Variable]:
        """This layer's own variables, those created trainable first (Keras' order, also in weight files)."""
        return [v for v in self._variables if v.trainable] + [v for v in self._variables if not v.trainable]

    def _all_variables(self) -> list[Variable]:
        """Own variables, then each sublayer's in turn: Keras 3's order."""
        variables, seen = [], set()
        for variable in self.own_weights() + [v for layer in self.sublayers() for v in layer._all_variables()]:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
        return variables

    @property
    def weights(self) -> list[Variable]:
        """Every weight in Keras' order (``get_weights`` / ``set_weights`` / weight files use it)."""
        return self._all_variables()

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights of trainable variables in layers that are trainable all the way down from here."""
        if not self._trainable:
            return []
        found = [v for v in self._variables if v.trainable]
        for layer in self.sublayers():
            found.extend(v for v in layer.trainable_weights if v not in found)
        return found

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self._all_variables() if id(v) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """The weights as numpy arrays in Keras' layout and order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights: list) -> None:
        """Sets the weights from arrays in Keras' layout and order.

        Raises:
            ValueError: a different number of arrays, or an array of the wrong shape.
        """
        variables = self.weights
        if len(weights) != len(variables):
            raise ValueError(f"{self.name}: set_weights expected {len(variables)} arrays "
                             f"({[v.shape for v in variables]}), got {len(weights)}")
        for variable, value in zip(variables, weights):
            variable.assign(value)

    def count_params(self) -> int:
        """The number of scalars in the Keras weights (equal to Keras' count for the same layer)."""
        return int(sum(np.prod(v.shape, dtype=np.int64) for v in self._all_variables()))

    @property
    def losses(self) -> list[torch.Tensor]:
        """Regularization penalties of the weights, plus activity penalties of the latest call."""
        found = [v.regularizer(v.value()) for v in self._all_variables() if v.regularizer is not None]
        for module in self.modules():
            if isinstance(module, Layer):
                found.extend(module._activity_losses)
        return found

    def apply_constraints(self) -> None:
        """Projects every constrained weight: ``w <- constraint(w)`` (after each optimizer update)."""
        with torch.no_grad():
            for variable in self._all_variables():
                if variable.constraint is not None:
                    variable.assign(variable.constraint(variable.value().detach()))

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freezes (False) or unfreezes this layer and every layer inside it, as Keras does."""
        self._trainable = bool(value)
        for layer in self.sublayers():
            layer.trainable = value
        self._apply_trainable()

    def _apply_trainable(self) -> None:
        """``requires_grad`` of this layer's own parameters, including those of the rnnkit modules it holds."""
        for variable in self._variables:
            tensor = variable.read()
            if isinstance(tensor, nn.Parameter):
                tensor.requires_grad_(self._trainable and variable.trainable)
        for child in self.children():
            if not isinstance(child, (Layer, nn.ModuleList, nn.ModuleDict)):
                for param in child.parameters():
                    param.requires_grad_(self._trainable)

    # ---- config -----------------------------------------------------------------------------
    @property
    def dtype(self) -> str:
        return self._dtype_name

    @property
    def output_shape(self) -> Any:
        if self.output_shape_record is None:
            raise ValueError(f"{self.name}: the layer has not been called yet, so its output shape is unknown")
        return self.output_shape_record

    def get_config(self) -> dict:
        """The constructor arguments (JSON-serialisable); subclasses add theirs."""
        config = {"name": self.name, "trainable": self._trainable, "dtype": self._dtype_name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
