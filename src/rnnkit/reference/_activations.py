"""Activation functions by name, each with its derivative (NumPy, float64).

| name           | f(z)                          | f'(z)                              |
|----------------|-------------------------------|------------------------------------|
| ``tanh``       | tanh z                        | 1 - f^2                            |
| ``sigmoid``    | 1 / (1 + e^-z)                | f (1 - f)                          |
| ``hard_sigmoid`` | clip((z + 3) / 6, 0, 1) (Keras 3) | 1/6 on -3 < z < 3, else 0      |
| ``relu``       | max(z, 0)                     | 1 on z > 0, else 0                 |
| ``linear``     | z                             | 1                                  |
| ``softsign``   | z / (1 + abs(z))              | 1 / (1 + abs(z))^2                 |

``ACTIVATIONS[name] = (f, df)`` with ``f(z) -> a`` and ``df(z, a) -> f'(z)``: the derivative
takes both the pre-activation ``z`` and the value ``a = f(z)`` so each entry can use the
textbook form (``1 - a**2`` for tanh, ``a * (1 - a)`` for the sigmoid).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]
DFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # split by sign so that exp never overflows
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


ACTIVATIONS: dict[str, tuple[Fn, DFn]] = {
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "hard_sigmoid": (lambda z: np.clip((z + 3.0) / 6.0, 0.0, 1.0),
                     lambda z, a: ((z > -3.0) & (z < 3.0)) / 6.0),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0.0).astype(z.dtype)),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
    "softsign": (lambda z: z / (1.0 + np.abs(z)), lambda z, a: 1.0 / (1.0 + np.abs(z)) ** 2),
}


def get(name: str, argument: str = "activation") -> tuple[Fn, DFn]:
    """Returns ``(f, df)`` for a name in ``ACTIVATIONS``.

    Raises:
        ValueError: an unknown name, naming the argument and the names accepted.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{argument}: expected one of {sorted(ACTIVATIONS)}, got {name!r}") from None
