"""Finite-difference gradient checks (central differences, float64).

    dL/dw_k ~ (L(w + eps e_k) - L(w - eps e_k)) / (2 eps)

Error measure, norm-wise so that it stays meaningful where gradients are near zero::

    max_relative_error(a, b) = max|a - b| / max(max|a|, max|b|, 1e-12)
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to ``array``.

    Each entry of ``array`` is perturbed in place by +eps and -eps and then restored, so
    ``f`` must read ``array`` (a closure over it). Returns an array of ``array``'s shape.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)                       # a view: writes go to ``array``
    if not np.shares_memory(flat, array):
        raise ValueError("array: must be contiguous so it can be perturbed in place")
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        f_plus = float(f())
        flat[k] = old - eps
        f_minus = float(f())
        flat[k] = old                              # restore
        gflat[k] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def max_relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b| / max(max|a|, max|b|, 1e-12)``; 0.0 for empty arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)


def finite_difference_errors(loss_fn: Callable[[], float], arrays: dict, analytic: dict,
                             eps: float = 1e-6) -> dict:
    """For each ``name`` in ``arrays``: max relative error of ``analytic[name]`` vs finite differences.

    Arguments:
        loss_fn: ``() -> float``, reading the arrays of ``arrays`` (which are perturbed in place).
        arrays: name -> array to check; analytic: name -> its analytic gradient.
    Returns:
        dict name -> max relative error.
    """
    return {name: max_relative_error(analytic[name], numerical_gradient(loss_fn, arr, eps))
            for name, arr in arrays.items()}
