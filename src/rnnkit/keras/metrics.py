"""Keras metrics by name, as per-batch means over samples (the trainer averages them over the epoch).

``"accuracy"`` / ``"acc"`` resolves as Keras does: binary accuracy for a ``binary_crossentropy`` loss
or a single output unit, categorical accuracy when targets are one-hot like the predictions, and
sparse categorical accuracy for integer labels.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from . import losses


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true, y_pred = losses._same_rank(y_true, y_pred)
    return ((y_pred > threshold).to(y_pred.dtype) == y_true).to(y_pred.dtype).mean(dim=-1)


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).to(y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_true.long() == y_pred.argmax(dim=-1)).to(y_pred.dtype)


FUNCTIONS: dict[str, Callable] = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mean_squared_error": losses.mean_squared_error, "mse": losses.mean_squared_error,
    "mean_absolute_error": losses.mean_absolute_error, "mae": losses.mean_absolute_error,
    "mean_absolute_percentage_error": losses.mean_absolute_percentage_error,
    "mape": losses.mean_absolute_percentage_error,
    "binary_crossentropy": losses.binary_crossentropy, "categorical_crossentropy": losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": losses.sparse_categorical_crossentropy,
}


def resolve(identifier: Any, loss: Callable | None, y_true: torch.Tensor, y_pred: torch.Tensor) -> Callable:
    """The metric function for a name, ``"accuracy"`` resolved from the loss and shapes; callables pass.

    Raises:
        ValueError: an unknown name.
    """
    if callable(identifier):
        return identifier
    if identifier in ("accuracy", "acc"):
        loss_name = losses.name_of(loss) if loss is not None else ""
        if loss_name == "binary_crossentropy" or y_pred.shape[-1] == 1:
            return binary_accuracy
        if loss_name == "categorical_crossentropy" or (y_true.dim() == y_pred.dim()
                                                       and y_true.shape[-1] == y_pred.shape[-1]):
            return categorical_accuracy
        return sparse_categorical_accuracy
    if identifier in FUNCTIONS:
        return FUNCTIONS[identifier]
    raise ValueError(f"metrics: expected 'accuracy' or one of {sorted(FUNCTIONS)} or a callable, got {identifier!r}")


def weighted_mean(values: torch.Tensor, sample_weight: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """A metric's batch value as Keras' ``Mean`` keeps it: ``sum(v * w) / sum(w)``, with w the sample
    weights (broadcast over steps) times the output mask; plain mean without either."""
    weight = torch.ones_like(values)
    if mask is not None:
        weight = weight * mask.to(values.dtype).reshape(values.shape[:mask.dim()] + (1,) * (values.dim() - mask.dim()))
    if sample_weight is not None:
        sample_weight = sample_weight.to(values.dtype)
        weight = weight * sample_weight.reshape(sample_weight.shape + (1,) * (values.dim() - sample_weight.dim()))
    return (values * weight).sum() / weight.sum().clamp_min(torch.finfo(values.dtype).tiny)


def display_name(identifier: Any) -> str:
    """The key Keras logs a metric under: the name given (``"mae"``, ``"accuracy"``) or the function's name."""
    if isinstance(identifier, str):
        return "accuracy" if identifier == "acc" else identifier
    return getattr(identifier, "name", None) or getattr(identifier, "__name__", type(identifier).__name__)
