"""Simple (Elman) RNN cell, one time step: forward and hand-derived backward.

Equations (docs/cells.md), row vectors, M the recurrent-dropout mask (ones when unused)::

    hraw_t = x_t weight_ih^T + bias_ih + (h_{t-1} * M) weight_hh^T + bias_hh     (B, H)
    h_t    = f(hraw_t)                           f = nonlinearity ("tanh" | "relu")

The textbook's ``s_t = f(U x_t + W s_{t-1} + b)`` with U = weight_ih, W = weight_hh.
Parameters: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
State: ``(h,)``; the output y_t is h_t.
"""
from __future__ import annotations

import numpy as np

from . import _activations

STATE_NAMES = ("h",)


def options(nonlinearity: str = "tanh") -> dict:
    """Validated cell options with defaults. Any activation name of the table is accepted."""
    _activations.get(nonlinearity, "nonlinearity")
    return {"nonlinearity": nonlinearity}


def param_shapes(input_size: int, hidden_size: int, bias: bool, opts: dict) -> dict[str, tuple]:
    """Name -> shape of every parameter these options imply."""
    H, I = hidden_size, input_size
    shapes = {"weight_ih": (H, I), "weight_hh": (H, H)}
    if bias:
        shapes.update(bias_ih=(H,), bias_hh=(H,))
    return shapes


def sizes(params: dict, opts: dict) -> tuple[int, int]:
    """``(input_size, hidden_size)`` read off the parameters."""
    return params["weight_ih"].shape[1], params["weight_hh"].shape[1]


def step_forward(p: dict, opts: dict, x: np.ndarray, state: tuple, mask: np.ndarray):
    """One step. x (B, I), state = (h_prev (B, H),), mask (B, H). Returns ((h,), cache)."""
    f, _ = _activations.get(opts["nonlinearity"])
    (h_prev,) = state
    hm = h_prev * mask                                           # recurrent dropout on h_{t-1}
    hraw = x @ p["weight_ih"].T + hm @ p["weight_hh"].T          # (B, H)
    if "bias_ih" in p:
        hraw = hraw + p["bias_ih"] + p["bias_hh"]
    h = f(hraw)                                                  # (B, H)
    return (h,), (x, hm, hraw, h, mask)


def step_backward(p: dict, opts: dict, cache: tuple, d_state: tuple, grads: dict):
    """Backward of one step: adds parameter gradients into ``grads``; returns ((dh_prev,), dx)."""
    _, df = _activations.get(opts["nonlinearity"])
    x, hm, hraw, h, mask = cache
    (dh,) = d_state
    dhraw = df(hraw, h) * dh                     # dL/dhraw = f'(hraw) * dL/dh   (tanh: (1 - h^2) * dh)
    grads["weight_ih"] += dhraw.T @ x            # dL/dU = sum_b dhraw x^T
    grads["weight_hh"] += dhraw.T @ hm           # dL/dW = sum_b dhraw (h_{t-1} * M)^T
    if "bias_ih" in p:
        grads["bias_ih"] += dhraw.sum(axis=0)    # dL/db_ih = sum_b dhraw
        grads["bias_hh"] += dhraw.sum(axis=0)    # dL/db_hh = sum_b dhraw
    dx = dhraw @ p["weight_ih"]                  # dL/dx_t = dhraw U
    dh_prev = (dhraw @ p["weight_hh"]) * mask    # dL/dh_{t-1} = (dhraw W) * M
    return (dh_prev,), dx
