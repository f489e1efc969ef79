"""Whole-sequence forward and backpropagation through time for any cell kind.

``forward`` runs one loop over time (Karpathy's lossFun: forward loop, then ``backward``
runs the reversed loop). Per step t, with the cell step of ``srn.py`` / ``lstm.py`` / ``gru.py``::

    s_new = cell(x_t, s_{t-1}, recurrent_mask)            s = (h,) or (h, c)
    s_new = d_t * s_{t-1} + (1 - d_t) * s_new              zoneout, if given
    s_t   = s_new        if t < lengths[b] else s_{t-1}    padding: carry the state
    y_t   = h part of s_new if t < lengths[b] else 0

Arrays are time-major: x (T, B, I), y (T, B, R) with R = proj_size or H.
"""
from __future__ import annotations

import numpy as np

from . import gru, lstm, srn
from ._time import carry_backward, carry_forward, valid_mask, zoneout_backward, zoneout_forward

CELLS = {"srn": srn, "lstm": lstm, "gru": gru}


def get_cell(kind: str):
    """The cell module for ``kind`` in {"srn", "lstm", "gru"}."""
    try:
        return CELLS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind: expected one of {sorted(CELLS)}, got {kind!r}") from None


def check_params(cell, params: dict, opts: dict) -> None:
    """Raises ValueError unless ``params`` holds exactly the names and shapes the options imply."""
    input_size, hidden_size = cell.sizes(params, opts)
    expected = cell.param_shapes(input_size, hidden_size, "bias_ih" in params, opts)
    if set(params) != set(expected):
        raise ValueError(f"params: for these options expected names {sorted(expected)}, "
                         f"got {sorted(params)}")
    for name, shape in expected.items():
        if np.shape(params[name]) != shape:
            raise ValueError(f"params[{name!r}]: expected shape {shape}, got {np.shape(params[name])}")


def _state_tuple(cell, state) -> tuple:
    """h0 -> (h0,) for srn/gru; (h0, c0) -> (h0, c0) for lstm."""
    if len(cell.STATE_NAMES) == 1:
        return (np.asarray(state, dtype=np.float64),)
    h, c = state
    return (np.asarray(h, dtype=np.float64), np.asarray(c, dtype=np.float64))


def _state_public(cell, state: tuple):
    return state[0] if len(cell.STATE_NAMES) == 1 else tuple(state)


def forward(kind, params, x, state0, *, lengths=None, recurrent_mask=None, zoneout=None, **cell_options):
    """Runs a cell over a sequence.

    Arguments:
        kind: "srn", "lstm" or "gru".
        params: dict name -> array, the PyTorch names of docs/cells.md; bias iff "bias_ih" in it.
        x: ``(T, B, I)``.
        state0: srn/gru ``h0 (B, H)``; lstm ``(h0 (B, R), c0 (B, H))``.
        lengths: optional ints ``(B,)`` in 1..T; steps ``t >= lengths[b]`` are padding.
        recurrent_mask: optional ``(B, R)``, multiplied into h_{t-1} where it meets weight_hh.
        zoneout: optional dict ``{"h": (T, B, R), "c": (T, B, H)}`` (either key may be absent;
            "c" for lstm only) of d in [0, 1]: ``s_new <- d * s_{t-1} + (1 - d) * s_new``.
        **cell_options: the cell constructor's options (see srn/lstm/gru ``options``).
    Returns:
        ``(y (T, B, R), final_state, cache)``; final_state has state0's structure (lstm: a
        tuple (h, c)) and is the state at each row's last valid step; y is 0 at padded steps.
    """
    cell = get_cell(kind)
    opts = cell.options(**cell_options)
    params = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    check_params(cell, params, opts)
    input_size, hidden_size = cell.sizes(params, opts)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != input_size:
        raise ValueError(f"x: expected shape (T, B, {input_size}), got {x.shape}")
    T, B, _ = x.shape
    state = _state_tuple(cell, state0)
    R = params["weight_hh"].shape[1]
    for name, s, width in zip(cell.STATE_NAMES, state, (R, hidden_size)):
        if s.shape != (B, width):
            raise ValueError(f"state0 {name}: expected shape {(B, width)}, got {s.shape}")
    valid = valid_mask(lengths, T, B)
    mask = np.ones((B, R)) if recurrent_mask is None else np.asarray(recurrent_mask, dtype=np.float64)
    if mask.shape != (B, R):
        raise ValueError(f"recurrent_mask: expected shape {(B, R)}, got {mask.shape}")
    zoneout = dict(zoneout or {})
    unknown = set(zoneout) - set(cell.STATE_NAMES)
    if unknown:
        raise ValueError(f"zoneout: expected keys among {cell.STATE_NAMES}, got {sorted(zoneout)}")
    zo = [None if zoneout.get(n) is None else np.asarray(zoneout[n], dtype=np.float64) for n in cell.STATE_NAMES]
    for name, d, s in zip(cell.STATE_NAMES, zo, state):
        if d is not None and d.shape != (T,) + s.shape:
            raise ValueError(f"zoneout[{name!r}]: expected shape {(T,) + s.shape}, got {d.shape}")

    y = np.zeros((T, B, R))
    step_caches = []
    for t in range(T):
        new, step_cache = cell.step_forward(params, opts, x[t], state, mask)    # the cell
        d_t = tuple(None if d is None else d[t] for d in zo)
        new = zoneout_forward(d_t, new, state)                                  # zoneout
        y[t] = valid[t] * new[0]                                                # 0 at padded steps
        state = carry_forward(valid[t], new, state)                             # carry when padded
        step_caches.append((step_cache, d_t))
    cache = {"kind": kind, "cell": cell, "opts": opts, "params": params, "x": x, "valid": valid,
             "steps": step_caches, "state_shapes": tuple(s.shape for s in state)}
    return y, _state_public(cell, state), cache


def backward(cache, d_y, d_final_state) -> dict:
    """Backpropagation through time for ``forward``.

    Arguments:
        cache: the third value ``forward`` returned.
        d_y: dL/dy ``(T, B, R)`` or None (zeros).
        d_final_state: dL/d(final_state), the structure of final_state, or None (zeros).
    Returns:
        dict with dL/d(every param name), "x" ``(T, B, I)``, "h0" and (lstm) "c0".
    """
    cell, opts, params, x = cache["cell"], cache["opts"], cache["params"], cache["x"]
    valid = cache["valid"]
    T = x.shape[0]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    if d_final_state is None:
        d_state = tuple(np.zeros(shape) for shape in cache["state_shapes"])
    else:
        d_state = _state_tuple(cell, d_final_state)
    dx = np.zeros_like(x)
    for t in reversed(range(T)):
        step_cache, d_t = cache["steps"][t]
        d_out = list(d_state)
        if d_y is not None:
            d_out[0] = d_out[0] + valid[t] * d_y[t]          # y_t = h_new at valid steps
        d_new, d_prev = carry_backward(valid[t], tuple(d_out))   # through the padding carry
        d_new, d_prev_z = zoneout_backward(d_t, d_new)           # through zoneout
        d_prev_cell, dx[t] = cell.step_backward(params, opts, step_cache, d_new, grads)  # the cell
        d_state = tuple(a + b + c for a, b, c in zip(d_prev, d_prev_z, d_prev_cell))
    grads["x"] = dx
    for name, d in zip(cell.STATE_NAMES, d_state):
        grads[name + "0"] = d
    return grads

