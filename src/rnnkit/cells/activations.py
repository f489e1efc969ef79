"""Activation functions by name, as the cells' ``activation`` / ``recurrent_activation`` take them.

| name           | f(z)                                  |
|----------------|---------------------------------------|
| ``tanh``       | tanh z                                |
| ``sigmoid``    | 1 / (1 + e^-z)                        |
| ``hard_sigmoid`` | clip((z + 3) / 6, 0, 1) (Keras 3)   |
| ``relu``       | max(z, 0)                             |
| ``linear``     | z                                     |
| ``softsign``   | z / (1 + abs(z))                      |

Any callable mapping a tensor to a tensor of the same shape is accepted too.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F

Activation = Union[str, Callable[[torch.Tensor], torch.Tensor]]


def _linear(z: torch.Tensor) -> torch.Tensor:
    return z


def hard_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """Keras 3's ``clip((z + 3) / 6, 0, 1)``.

    Not ``F.hardsigmoid``: its backward uses a float32 1/6 even in float64 (off by 5e-9).
    """
    return torch.clamp(z / 6.0 + 0.5, 0.0, 1.0)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": torch.relu,
    "linear": _linear,
    "softsign": F.softsign,
}


def resolve(activation: Activation, argument: str = "activation") -> Callable[[torch.Tensor], torch.Tensor]:
    """Returns the function for a name in ``ACTIVATIONS`` or a callable as it is.

    Raises:
        ValueError: an unknown name, naming the argument and the names accepted.
    """
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"{argument}: expected one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}") from None


def name_of(activation: Activation) -> str | None:
    """The registered name of an activation, or None for a user callable."""
    if isinstance(activation, str):
        return activation
    return next((name for name, fn in ACTIVATIONS.items() if fn is activation), None)
