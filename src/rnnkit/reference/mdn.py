r"""NumPy float64 reference of the mixture density loss and its hand-derived gradient (Graves 2013, eq. 18-33).

Written the plain way, from the densities themselves (no log-space tricks), so it shares nothing with
``rnnkit.nn.mdn`` but the equations. For N points, arrays ``logit_pi (N, M)``, ``mu (N, M, 2)``,
``log_sigma (N, M, 2)``, ``rho_logit (N, M)``, ``pen_logits (N, P)``, targets ``xy (N, 2)``, ``pen (N,)``::

    π = softmax(π̂)  σ = exp(σ̂)  ρ = tanh(ρ̂)  q = softmax(q̂)
    N_k = exp(-Z_k / (2 (1 - ρ_k²))) / (2π σx σy √(1 - ρ_k²)),   Z = zx² + zy² - 2ρ zx zy
    L = Σ_n [ -log Σ_k π_k N_k - log q_p ]

Backward, with the responsibility γ_k = π_k N_k / Σ_j π_j N_j and C = 1 / (1 - ρ²)::

    dL/dπ̂_k  = π_k - γ_k
    dL/dμx_k  = -γ_k C (zx - ρ zy) / σx              dL/dμy_k = -γ_k C (zy - ρ zx) / σy
    dL/dσ̂x_k  = -γ_k (C zx (zx - ρ zy) - 1)          dL/dσ̂y_k = -γ_k (C zy (zy - ρ zx) - 1)
    dL/dρ̂_k   = -γ_k (zx zy + ρ (1 - C Z))
    dL/dq̂     = q - onehot(p)
"""
from __future__ import annotations

import numpy as np


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mdn_forward(logit_pi, mu, log_sigma, rho_logit, pen_logits, xy, pen) -> tuple[float, dict]:
    """``(L, cache)``: the summed negative log-likelihood of the points (module docstring)."""
    pi, sigma, rho, q = _softmax(logit_pi), np.exp(log_sigma), np.tanh(rho_logit), _softmax(pen_logits)
    zx = (xy[:, None, 0] - mu[..., 0]) / sigma[..., 0]                       # (N, M)
    zy = (xy[:, None, 1] - mu[..., 1]) / sigma[..., 1]                       # (N, M)
    big_z = zx ** 2 + zy ** 2 - 2 * rho * zx * zy                            # (N, M)
    one_minus = 1 - rho ** 2
    density = np.exp(-big_z / (2 * one_minus)) / (2 * np.pi * sigma[..., 0] * sigma[..., 1] * np.sqrt(one_minus))
    mixture = (pi * density).sum(-1)                                         # (N,)
    rows = np.arange(len(pen))
    loss = float(-np.log(mixture).sum() - np.log(q[rows, pen]).sum())
    cache = {"pi": pi, "rho": rho, "q": q, "zx": zx, "zy": zy, "Z": big_z, "sigma": sigma,
             "gamma": pi * density / mixture[:, None], "pen": pen}
    return loss, cache


def mdn_backward(cache: dict) -> dict:
    """Gradients of L with respect to ``logit_pi``, ``mu``, ``log_sigma``, ``rho_logit``, ``pen_logits``."""
    g, rho, zx, zy, sigma = cache["gamma"], cache["rho"], cache["zx"], cache["zy"], cache["sigma"]
    c = 1 / (1 - rho ** 2)                                                   # (N, M)
    d_mu = np.stack([-g * c * (zx - rho * zy) / sigma[..., 0],
                     -g * c * (zy - rho * zx) / sigma[..., 1]], axis=-1)      # (N, M, 2)
    d_log_sigma = np.stack([-g * (c * zx * (zx - rho * zy) - 1),
                            -g * (c * zy * (zy - rho * zx) - 1)], axis=-1)    # (N, M, 2)
    d_rho = -g * (zx * zy + rho * (1 - c * cache["Z"]))                      # (N, M)
    d_pen = cache["q"].copy()
    d_pen[np.arange(len(cache["pen"])), cache["pen"]] -= 1                   # q - onehot(p)
    return {"logit_pi": cache["pi"] - g, "mu": d_mu, "log_sigma": d_log_sigma, "rho_logit": d_rho,
            "pen_logits": d_pen}
