"""Keras 3 weight regularizers: ``regularizer(w) -> scalar``, added to the training loss.

    L1(l1):      l1 · Σ|w|          (``"l1"``: l1 = 0.01)
    L2(l2):      l2 · Σ w²          (``"l2"``: l2 = 0.01)
    L1L2(l1, l2): both              (``"l1_l2"``: l1 = l2 = 0.01, Keras 2's defaults; Keras 3 rejects
                                     the string and its ``L1L2()`` defaults are 0)
"""
from __future__ import annotations

from typing import Any

import torch

from ._serial import Family

FAMILY = Family("regularizer")


class Regularizer:
    """Base: ``__call__(w) -> scalar tensor``."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


def _rate(value, name: str) -> float:
    value = 0.0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    return float(value)


@FAMILY.register
class L1(Regularizer):
    def __init__(self, l1: float = 0.01):
        self.l1 = _rate(l1, "l1")

    def __call__(self, w):
        return self.l1 * w.abs().sum()

    def get_config(self):
        return {"l1": self.l1}


@FAMILY.register
class L2(Regularizer):
    def __init__(self, l2: float = 0.01):
        self.l2 = _rate(l2, "l2")

    def __call__(self, w):
        return self.l2 * w.square().sum()

    def get_config(self):
        return {"l2": self.l2}


@FAMILY.register
class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = _rate(l1, "l1"), _rate(l2, "l2")

    def __call__(self, w):
        return self.l1 * w.abs().sum() + self.l2 * w.square().sum()

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
FAMILY.classes["l1_l2"] = lambda: L1L2(l1=0.01, l2=0.01)


def get(identifier: Any, argument: str = "regularizer") -> Any:
    """A regularizer from a name (``"l1"``, ``"l2"``, ``"l1_l2"``), config dict, instance, callable or None."""
    return FAMILY.get(identifier, argument)


def serialize(regularizer: Any, argument: str = "regularizer") -> dict | None:
    return FAMILY.serialize(regularizer, argument)
