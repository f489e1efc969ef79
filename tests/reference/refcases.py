"""Shared helpers for the reference tests: random cases and the FD check of forward/backward.

(A uniquely named module rather than conftest.py, so that importing it is unambiguous.)
"""
from __future__ import annotations

from rnnkit.reference import backward, finite_difference_errors, forward, init_params, init_state

T, B, I, H, P = 5, 3, 4, 6, 3
TOL = 1e-6


def make_case(kind, rng, *, bias=True, batch=B, **opts):
    """Random params, x (T, batch, I) and a random initial state for these options."""
    params = init_params(kind, I, H, bias=bias, rng=rng, **opts)
    x = rng.standard_normal((T, batch, I))
    state0 = init_state(kind, batch, H, rng=rng, proj_size=opts.get("proj_size", 0))
    return params, x, state0


def as_tuple(state):
    return tuple(state) if isinstance(state, tuple) else (state,)


def loss_weights(rng, y, final):
    """Random Gy, Gf for L = sum(y * Gy) + sum(final * Gf)."""
    Gy = rng.standard_normal(y.shape)
    Gf = tuple(rng.standard_normal(s.shape) for s in as_tuple(final))
    return Gy, (Gf if isinstance(final, tuple) else Gf[0])


def state_dot(final, Gf):
    """sum(final * Gf) over every part of a state (h, or (h, c))."""
    return float(sum((s * g).sum() for s, g in zip(as_tuple(final), as_tuple(Gf))))


def weighted_loss(y, final, Gy, Gf):
    """L = sum(y * Gy) + sum(final * Gf)."""
    return float((y * Gy).sum()) + state_dot(final, Gf)


def fd_check(kind, params, x, state0, rng, **kwargs):
    """backward() vs central differences for every param, x, h0 (and c0); returns the grads."""
    y, final, cache = forward(kind, params, x, state0, **kwargs)
    Gy, Gf = loss_weights(rng, y, final)
    grads = backward(cache, Gy, Gf)

    def loss():
        y, final, _ = forward(kind, params, x, state0, **kwargs)
        return weighted_loss(y, final, Gy, Gf)

    arrays = dict(params, x=x)
    for name, s in zip(("h0", "c0"), as_tuple(state0)):
        arrays[name] = s
    assert set(grads) == set(arrays)
    errors = finite_difference_errors(loss, arrays, grads)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, errors
    return grads
