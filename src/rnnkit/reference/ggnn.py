"""Gated graph network propagation (Li et al. 2016): forward and hand-derived backward through the steps.

One graph of n nodes, edges ``(u, e, v)`` (from u to v, type e), state size D::

    h^(0)_v = [x_v; 0]
    a^(t)_v = Σ_{(u,e,v)} (W_e h^(t-1)_u + b_e) + Σ_{(v,e,u)} (W'_e h^(t-1)_u + b'_e)
    h^(t)   = GRU(a^(t), h^(t-1))                       the GRU step of ``gru.py`` (input size D)

Parameters: ``weight_in (T_e, D, D)`` = W_e, ``bias_in (T_e, D)`` = b_e, ``weight_out`` = W'_e,
``bias_out`` = b'_e, and the GRU's under ``gru.`` (``gru.weight_ih (3D, D)``, ...). Rows are nodes:
``h (n, D)``, so ``W_e h_u`` is ``h[u] @ W_e.T``.
"""
from __future__ import annotations

import numpy as np

from . import gru

PREFIX = "gru."


def init_params(state_size: int, edge_types: int, *, bias: bool = True, reset_after: bool = False,
                rng: np.random.Generator, scale: float = 0.5) -> dict:
    """Every parameter ~ uniform(-scale, scale), float64."""
    D, T = state_size, edge_types
    shapes = {"weight_in": (T, D, D), "weight_out": (T, D, D)}
    if bias:
        shapes.update(bias_in=(T, D), bias_out=(T, D))
    opts = gru.options(reset_after=reset_after)
    shapes.update({PREFIX + k: v for k, v in gru.param_shapes(D, D, bias, opts).items()})
    return {name: rng.uniform(-scale, scale, size=shape) for name, shape in shapes.items()}


def forward(params: dict, annotation: np.ndarray, edges: np.ndarray, *, steps: int, reset_after: bool = False):
    """Propagates ``steps`` times.

    Arguments:
        params: as :func:`init_params`.  annotation: ``(n, A)``, A <= D.  edges: ``(E, 3)`` rows (u, e, v).
        steps: T.  reset_after: the GRU's reset placement.
    Returns:
        ``(h^(T) (n, D), cache)``.
    """
    D = params["weight_in"].shape[1]
    n, A = annotation.shape
    h = np.zeros((n, D))
    h[:, :A] = annotation                                                # h^(0) = [x; 0]
    p_gru, opts = _gru(params, reset_after)
    ones = np.ones((n, D))
    caches = []
    for _ in range(steps):
        a = _messages(params, h, edges)                                  # (n, D)
        (h_new,), cache = gru.step_forward(p_gru, opts, a, (h,), ones)
        caches.append((h, cache))
        h = h_new
    return h, (params, edges, A, reset_after, caches)


def backward(cache, d_h: np.ndarray) -> dict:
    """Gradients of every parameter and of ``"annotation"`` ``(n, A)`` from dL/dh^(T) ``(n, D)``."""
    params, edges, A, reset_after, caches = cache
    p_gru, opts = _gru(params, reset_after)
    grads = {name: np.zeros_like(value) for name, value in params.items() if not name.startswith(PREFIX)}
    grads_gru = {name: np.zeros_like(value) for name, value in p_gru.items()}
    dh = np.array(d_h, dtype=np.float64)
    for h_prev, step_cache in reversed(caches):
        (dh_prev,), da = gru.step_backward(p_gru, opts, step_cache, (dh,), grads_gru)   # GRU: dL/dh^(t-1), dL/da
        for u, e, v in edges:
            grads["weight_in"][e] += np.outer(da[v], h_prev[u])       # a_v += W_e h_u:  dL/dW_e += da_v h_u^T
            dh_prev[u] += params["weight_in"][e].T @ da[v]            # dL/dh_u += W_e^T da_v
            grads["weight_out"][e] += np.outer(da[u], h_prev[v])      # a_u += W'_e h_v: dL/dW'_e += da_u h_v^T
            dh_prev[v] += params["weight_out"][e].T @ da[u]           # dL/dh_v += W'_e^T da_u
            if "bias_in" in params:
                grads["bias_in"][e] += da[v]                          # dL/db_e += da_v
                grads["bias_out"][e] += da[u]                         # dL/db'_e += da_u
        dh = dh_prev
    grads.update({PREFIX + name: g for name, g in grads_gru.items()})
    grads["annotation"] = dh[:, :A]                                   # h^(0) = [x; 0]
    return grads


def _messages(params: dict, h: np.ndarray, edges: np.ndarray) -> np.ndarray:
    a = np.zeros_like(h)
    for u, e, v in edges:
        a[v] += params["weight_in"][e] @ h[u]                         # along the edge: W_e h_u
        a[u] += params["weight_out"][e] @ h[v]                        # against it: W'_e h_v
        if "bias_in" in params:
            a[v] += params["bias_in"][e]
            a[u] += params["bias_out"][e]
    return a


def _gru(params: dict, reset_after: bool) -> tuple[dict, dict]:
    """The GRU's parameters without the prefix, and its options."""
    return ({name[len(PREFIX):]: value for name, value in params.items() if name.startswith(PREFIX)},
            gru.options(reset_after=reset_after))
