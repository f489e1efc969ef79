"""Activation functions by Keras name: ``activations.get("tanh")``.

The names rnnkit's cells know (:data:`rnnkit.cells.ACTIVATIONS`: tanh, sigmoid, hard_sigmoid
(Keras 3's ``clip(x/6 + 1/2, 0, 1)``), relu, linear, softsign) are the same functions the cells
use; the rest are the Keras 3 definitions written with torch ops.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..cells import ACTIVATIONS as CELL_ACTIVATIONS

Activation = Callable[[torch.Tensor], torch.Tensor]


def softmax(x: torch.Tensor) -> torch.Tensor:
    """``exp(x) / sum(exp(x))`` over the last axis."""
    return torch.softmax(x, dim=-1)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x, dim=-1)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """Keras' default slope 0.2."""
    return F.leaky_relu(x, 0.2)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU, Keras' default ``approximate=False``."""
    return F.gelu(x)


ACTIVATIONS: dict[str, Activation] = {
    **CELL_ACTIVATIONS,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "silu": F.silu,
    "swish": F.silu,
    "gelu": gelu,
    "exponential": torch.exp,
    "leaky_relu": leaky_relu,
    "relu6": F.relu6,
    "mish": F.mish,
    "log_sigmoid": F.logsigmoid,
    "hard_silu": F.hardswish,
    "hard_swish": F.hardswish,
}


def get(identifier: str | Activation | None) -> Activation:
    """The function for a name (None means ``linear``) or a callable as it is.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if identifier is None:
        return ACTIVATIONS["linear"]
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return ACTIVATIONS[identifier]
    raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, None or a callable, got {identifier!r}")


def serialize(activation: Activation) -> str:
    """The name of a known activation (the first registered name for aliases).

    Raises:
        ValueError: a user callable, which a JSON config cannot name.
    """
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return name
    raise ValueError(f"activation: cannot save the user function {activation!r} in a config; "
                     f"use one of {sorted(ACTIVATIONS)}")


def cell_name(activation: Activation) -> str | Activation:
    """What an rnnkit cell takes: the name when the cells know it, else the callable."""
    for name, fn in CELL_ACTIVATIONS.items():
        if fn is activation:
            return name
    return activation
