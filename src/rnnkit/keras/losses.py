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


ELEMENTWISE, ONE_HOT, SPARSE = "elementwise", "one-hot", "sparse"
_EXPECTS = {ELEMENTWISE: "targets of the output's shape",
            ONE_HOT: "one-hot targets of the output's shape (integer labels: use sparse_categorical_crossentropy)",
            SPARSE: "integer labels of the output's shape without its last axis"}


def _fits(rule: str | None, target: tuple, output: tuple) -> bool:
    if rule == SPARSE:
        return target in (output[:-1], output[:-1] + (1,))
    if rule == ONE_HOT:
        return target == output
    if rule == ELEMENTWISE:    # Keras' squeeze_or_expand_to_same_rank: a last axis of 1 may be missing on either
        return target in (output, output + (1,)) or (output[-1:] == (1,) and target == output[:-1])
    return target[:1] == output[:1]


def check_target(rule: str | None, y_true: torch.Tensor, y_pred: torch.Tensor, argument: str = "y_true",
                 output: str = "the prediction", loss: str = "the loss") -> None:
    """Checks that targets fit predictions under a loss's rule (:func:`rule_of`); None checks the batch size.
    Sparse labels must also name one of the output's classes.

    Raises:
        ValueError: naming ``argument``, the targets' shape (or labels), ``output`` and its shape, and what
            ``loss`` expects.
    """
    target, shape = tuple(y_true.shape), tuple(y_pred.shape)
    if not _fits(rule, target, shape):
        expects = _EXPECTS.get(rule, "as many samples as the output")
        raise ValueError(f"{argument}: a batch of shape {target} does not fit {output} of shape {shape}; "
                         f"{loss} expects {expects}")
    if rule == SPARSE and y_true.numel() and not torch.compiler.is_compiling():
        low, high = int(y_true.min()), int(y_true.max())
        if low < 0 or high >= shape[-1]:
            raise ValueError(f"{argument}: labels in [{low}, {high}] do not fit the {shape[-1]} classes of {output}; "
                             f"{loss} expects integer labels in [0, {shape[-1]})")


def _same_rank(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras' ``squeeze_or_expand_to_same_rank``: ``(B,)`` against ``(B, 1)`` gains or loses the last axis.

    Raises:
        ValueError: targets of another shape.
    """
    check_target(ELEMENTWISE, y_true, y_pred)
    if y_true.dim() == y_pred.dim() - 1:
        y_true = y_true.unsqueeze(-1)
    elif y_pred.dim() == y_true.dim() - 1:
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
    check_target(ONE_HOT, y_true, y_pred, loss="categorical_crossentropy")
    if from_logits:
        log_p = torch.log_softmax(y_pred, dim=-1)
    else:
        log_p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true.to(y_pred.dtype) * log_p).sum(dim=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    check_target(SPARSE, y_true, y_pred, loss="sparse_categorical_crossentropy")
    if y_true.dim() == y_pred.dim():
        y_true = y_true.squeeze(-1)
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


_RULES = {mean_squared_error: ELEMENTWISE, mean_absolute_error: ELEMENTWISE,
          mean_absolute_percentage_error: ELEMENTWISE, huber: ELEMENTWISE, binary_crossentropy: ELEMENTWISE,
          categorical_crossentropy: ONE_HOT, sparse_categorical_crossentropy: SPARSE}


def rule_of(loss: Callable) -> str | None:
    """What a built-in loss expects of the targets (:func:`check_target`'s rule); None for other callables."""
    return _RULES.get(loss.function if isinstance(loss, Loss) else loss)


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
        while sample_weight.dim() > values.dim() and sample_weight.shape[-1] == 1:
            sample_weight = sample_weight.squeeze(-1)
        if tuple(sample_weight.shape) != tuple(values.shape[:sample_weight.dim()]):
            raise ValueError(f"sample_weight: a batch of shape {tuple(sample_weight.shape)} does not fit the loss "
                             f"values of shape {tuple(values.shape)} (one weight per sample, or per sample and step)")
        while sample_weight.dim() < values.dim():
            sample_weight = sample_weight.unsqueeze(-1)
        weight = sample_weight if weight is None else weight * sample_weight
    if weight is not None:
        values = values * weight
    return values.sum() / max(values.numel(), 1)
