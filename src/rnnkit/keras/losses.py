"""Keras 3 losses: per-sample values (reduced over the last axis) and Keras' batch reduction.

``compute(loss_fn, y_true, y_pred, sample_weight, mask)`` is Keras' "sum_over_batch_size":
``sum(values * weight) / number of values``, where a mask (from ``mask_zero`` / ``Masking`` on the
model output) zeroes the masked values and divides by the number of valid ones instead.
Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before logarithms, as Keras does.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F

EPSILON = 1e-7


def _same_rank(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras' ``squeeze_or_expand_to_same_rank``: ``(B,)`` against ``(B, 1)`` gains or loses the last axis."""
    if y_true.dim() == y_pred.dim() - 1 and y_pred.shape[-1] == 1:
        y_true = y_true.unsqueeze(-1)
    elif y_pred.dim() == y_true.dim() - 1 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true.to(y_pred.dtype), y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return 100.0 * ((y_true - y_pred).abs() / y_true.abs().clamp_min(EPSILON)).mean(dim=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return F.huber_loss(y_pred, y_true, reduction="none", delta=delta).mean(dim=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    y_true, y_pred = _same_rank(y_true, y_pred)
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(y_pred.clamp(EPSILON, 1.0 - EPSILON), y_true, reduction="none")
    return values.mean(dim=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true: categorical_crossentropy expects one-hot targets of the prediction's shape "
                         f"{tuple(y_pred.shape)}, got {tuple(y_true.shape)} (integer labels: use "
                         "sparse_categorical_crossentropy)")
    if from_logits:
        log_p = torch.log_softmax(y_pred, dim=-1)
    else:
        log_p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true.to(y_pred.dtype) * log_p).sum(dim=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(f"y_true: sparse_categorical_crossentropy expects integer labels of shape "
                         f"{tuple(y_pred.shape[:-1])}, got {tuple(y_true.shape)}")
    if from_logits:
        log_p = torch.log_softmax(y_pred, dim=-1)
    else:
        log_p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON).log()
    return -log_p.gather(-1, y_true.long().unsqueeze(-1)).squeeze(-1)


FUNCTIONS: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "huber": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


class Loss:
    """A loss object (``losses.SparseCategoricalCrossentropy(from_logits=True)``): per-sample values."""

    function: Callable = staticmethod(mean_squared_error)

    def __init__(self, from_logits: bool = False, name: str | None = None, **options: Any):
        self.from_logits, self.options = bool(from_logits), options
        self.name = name or _snake(type(self).__name__)

    def __call__(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        kwargs = dict(self.options)
        if "from_logits" in inspect.signature(self.function).parameters:
            kwargs["from_logits"] = self.from_logits
        return self.function(y_true, y_pred, **kwargs)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, "name": self.name, **self.options}


def _snake(name: str) -> str:
    from ._serial import to_snake_case
    return to_snake_case(name)


def _loss_class(name: str, function: Callable) -> type:
    return type(name, (Loss,), {"function": staticmethod(function), "__module__": __name__,
                                "__doc__": f"Keras' ``{name}``: per-sample ``{function.__name__}``."})


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
Huber = _loss_class("Huber", huber)
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy)
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy)
CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, Huber,
                                         BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def get(identifier: Any, argument: str = "loss") -> Callable:
    """A per-sample loss from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ...), a Loss or a callable."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier in FUNCTIONS:
            return FUNCTIONS[identifier]
        if identifier in CLASSES:
            return CLASSES[identifier]()
    raise ValueError(f"{argument}: expected one of {sorted(FUNCTIONS)}, a Loss or a callable, got {identifier!r}")


def name_of(loss: Callable) -> str:
    """The Keras name of a loss (for resolving ``"accuracy"`` and for configs)."""
    if isinstance(loss, Loss):
        return loss.function.__name__
    return getattr(loss, "__name__", type(loss).__name__)


def compute(loss: Callable, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Keras' reduction of the per-sample values of ``loss``: ``sum(values * w) / n`` (see the module docstring)."""
    values = loss(y_true, y_pred)
    weight = None
    if mask is not None:
        mask = mask.to(values.dtype)
        while mask.dim() > values.dim():
            mask = mask.squeeze(-1)
        weight = mask * (mask.numel() / mask.sum().clamp_min(1.0))
    if sample_weight is not None:
        sample_weight = sample_weight.to(values.dtype)
        while sample_weight.dim() < values.dim():
            sample_weight = sample_weight.unsqueeze(-1)
        weight = sample_weight if weight is None else weight * sample_weight
    if weight is not None:
        values = values * weight
    return values.sum() / max(values.numel(), 1)
