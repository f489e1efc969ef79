"""What the time loop does around the cell: padding by ``lengths``, zoneout, padding-aware reversal.

Padding: row b is valid at steps ``t < lengths[b]``; at a padded step its state is carried
unchanged and its output is 0::

    s_t = valid_t * s_new + (1 - valid_t) * s_{t-1}          y_t = valid_t * h_new

Zoneout (Krueger et al. 2017), with given values d in [0, 1] per step and unit::

    s_new <- d * s_{t-1} + (1 - d) * s_new
"""
from __future__ import annotations

import numpy as np


def valid_mask(lengths, T: int, B: int) -> np.ndarray:
    """``(T, B, 1)`` float array, 1.0 where ``t < lengths[b]``; all ones when lengths is None.

    Raises:
        ValueError: lengths not of shape (B,), or a length outside 1..T.
    """
    if lengths is None:
        return np.ones((T, B, 1))
    lengths = np.asarray(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},), got {lengths.shape}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths: expected values in 1..{T}, got {lengths.tolist()}")
    return (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)[:, :, None]


def carry_forward(valid_t: np.ndarray, new: tuple, prev: tuple) -> tuple:
    """``valid * new + (1 - valid) * prev`` per state part (np.where: padded garbage never leaks)."""
    return tuple(np.where(valid_t > 0, n, p) for n, p in zip(new, prev))


def carry_backward(valid_t: np.ndarray, d_state: tuple) -> tuple[tuple, tuple]:
    """Backward of ``carry_forward``: returns ``(d_new, d_prev)``."""
    d_new = tuple(valid_t * d for d in d_state)              # dL/ds_new = valid * dL/ds_t
    d_prev = tuple((1.0 - valid_t) * d for d in d_state)     # dL/ds_{t-1} = (1 - valid) * dL/ds_t
    return d_new, d_prev


def zoneout_forward(d_t: tuple, new: tuple, prev: tuple) -> tuple:
    """``d * prev + (1 - d) * new`` per state part; a part whose d is None is left as it is."""
    return tuple(n if d is None else d * p + (1.0 - d) * n for d, n, p in zip(d_t, new, prev))


def zoneout_backward(d_t: tuple, d_out: tuple) -> tuple[tuple, tuple]:
    """Backward of ``zoneout_forward``: returns ``(d_new, d_prev)`` (d_prev 0 where d is None)."""
    d_new = tuple(g if d is None else (1.0 - d) * g for d, g in zip(d_t, d_out))   # dL/dnew = (1-d) dL/dout
    d_prev = tuple(0.0 if d is None else d * g for d, g in zip(d_t, d_out))        # dL/dprev = d dL/dout
    return d_new, d_prev


def reverse_padded(a: np.ndarray, lengths=None) -> np.ndarray:
    """Reverses each row's valid part along time; the padding stays at the end.

    ``out[t, b] = a[lengths[b] - 1 - t, b]`` for ``t < lengths[b]``, ``a[t, b]`` otherwise.
    Arguments:
        a: ``(T, B, ...)``; lengths: ``(B,)`` ints in 1..T or None (plain reversal).
    Returns:
        a new array of the same shape. The map is its own inverse.
    """
    T, B = a.shape[:2]
    if lengths is None:
        return a[::-1].copy()
    valid_mask(lengths, T, B)                                # validates
    t = np.arange(T)[:, None]
    L = np.asarray(lengths)[None, :]
    src = np.where(t < L, L - 1 - t, t)                      # (T, B) source step per row
    return a[src, np.arange(B)[None, :]]
