"""Bidirectional pass: a forward direction and a backward direction over each row's valid part.

With ``rev`` = ``reverse_padded`` (reverses t < lengths[b], padding stays at the end)::

    y_fwd, final_fwd = forward(x)
    y_rev, final_bwd = forward(rev(x))          the backward direction, in its own time order
    y_bwd            = rev(y_rev)                put back in the original time order
    y                = concat[y_fwd, y_bwd]      (T, B, 2R), 0 at padded steps
"""
from __future__ import annotations

import numpy as np

from ._time import reverse_padded
from .sequence import backward, forward


def bidirectional_forward(kind, params_fwd, params_bwd, x, state0_fwd, state0_bwd, *, lengths=None,
                          **cell_options):
    """Runs both directions with the same cell options.

    Arguments:
        kind, cell_options: as for ``forward``; params_fwd / params_bwd: each direction's params.
        x: ``(T, B, I)``; state0_fwd / state0_bwd: initial states, structured as for ``forward``.
        lengths: optional ints ``(B,)`` in 1..T.
    Returns:
        ``(y (T, B, 2R), (final_fwd, final_bwd), cache)``; final_bwd is the backward direction's
        state after it has read x_0 (its last valid step).
    """
    x = np.asarray(x, dtype=np.float64)
    y_f, final_f, cache_f = forward(kind, params_fwd, x, state0_fwd, lengths=lengths, **cell_options)
    y_r, final_b, cache_b = forward(kind, params_bwd, reverse_padded(x, lengths), state0_bwd,
                                    lengths=lengths, **cell_options)
    y = np.concatenate([y_f, reverse_padded(y_r, lengths)], axis=2)
    cache = {"fwd": cache_f, "bwd": cache_b, "lengths": lengths, "R": y_f.shape[2]}
    return y, (final_f, final_b), cache


def bidirectional_backward(cache, d_y, d_final_states):
    """Backward of ``bidirectional_forward``.

    Arguments:
        cache: its third value; d_y: dL/dy ``(T, B, 2R)`` or None;
        d_final_states: ``(d_final_fwd, d_final_bwd)``, each structured like that final state or None.
    Returns:
        ``(grads_fwd, grads_bwd, dx)``: each grads dict holds that direction's parameter
        gradients and "h0" (and "c0"), but no "x"; ``dx (T, B, I)`` is the total dL/dx, the
        sum of both directions' contributions (the backward one put back in original order).
    """
    R, lengths = cache["R"], cache["lengths"]
    d_final_f, d_final_b = d_final_states if d_final_states is not None else (None, None)
    d_yf = d_yb = None
    if d_y is not None:
        d_yf = d_y[:, :, :R]                                   # y_fwd is the first R features
        d_yb = reverse_padded(d_y[:, :, R:], lengths)          # y_bwd = rev(y_rev): rev is its own inverse
    grads_f = backward(cache["fwd"], d_yf, d_final_f)
    grads_b = backward(cache["bwd"], d_yb, d_final_b)
    dx = grads_f.pop("x") + reverse_padded(grads_b.pop("x"), lengths)   # x fed both directions
    return grads_f, grads_b, dx
