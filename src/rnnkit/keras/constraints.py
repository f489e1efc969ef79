"""Keras 3 weight constraints: ``constraint(w) -> w'``, applied after every optimizer update.

Norms are taken over ``axis`` of the weight in Keras' layout (axis 0 of a kernel ``(input_dim, units)``
is each unit's incoming weight vector), with Keras' ``epsilon = 1e-7``::

    MaxNorm(max_value=2):   w · clip(‖w‖, 0, max_value) / (ε + ‖w‖)
    NonNeg():               w · [w >= 0]
    UnitNorm():             w / (ε + ‖w‖)
    MinMaxNorm(min_value=0, max_value=1, rate=1):
                            w · (rate · clip(‖w‖, min, max) + (1 − rate) ‖w‖) / (ε + ‖w‖)
"""
from __future__ import annotations

from typing import Any

import torch

from ._serial import Family

FAMILY = Family("constraint")
EPSILON = 1e-7


class Constraint:
    """Base: ``__call__(w) -> w'`` of the same shape."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


def _norms(w: torch.Tensor, axis) -> torch.Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


@FAMILY.register
class MaxNorm(Constraint):
    def __init__(self, max_value: float = 2.0, axis: int | list[int] = 0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0.0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@FAMILY.register
class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0).to(w.dtype)


@FAMILY.register
class UnitNorm(Constraint):
    def __init__(self, axis: int | list[int] = 0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


@FAMILY.register
class MinMaxNorm(Constraint):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | list[int] = 0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm


def get(identifier: Any, argument: str = "constraint") -> Any:
    """A constraint from a name (``"max_norm"``, ``"non_neg"``, ``"unit_norm"``, ...), a config dict, an
    instance, a callable, or None."""
    return FAMILY.get(identifier, argument)


def serialize(constraint: Any, argument: str = "constraint") -> dict | None:
    return FAMILY.serialize(constraint, argument)
