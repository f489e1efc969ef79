"""GRU cell, one time step (both reset placements, optional layer norm): forward and backward.

Gates in order ``r, z, n`` (G = 3). sigma = recurrent_activation, phi = activation,
M the recurrent-dropout mask (ones when unused)::

    gi  = x_t weight_ih^T + bias_ih                  layer_norm: LNb(x_t weight_ih^T) * ln_ih_weight + bias_ih
    gh  = (h_{t-1} * M) weight_hh^T + bias_hh        layer_norm: LNb((h_{t-1} * M) weight_hh^T) * ln_hh_weight + bias_hh
    r   = sigma(gi_r + gh_r)
    z   = sigma(gi_z + gh_z)
    n   = phi(gi_n + r * gh_n)                                            reset_after=True
    n   = phi(gi_n + (r * h_{t-1} * M) weight_hh_n^T + bias_hh_n)          reset_after=False
          layer_norm: the bracket is LN((r * h_{t-1} * M) weight_hh_n^T) * ln_hh_weight_n + bias_hh_n
    h_t = (1 - z) * n + z * h_{t-1}                  (the unmasked h_{t-1})

Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H),
ln_ih_weight (3H), ln_hh_weight (3H). State: ``(h,)``; the output y_t is h_t.
"""
from __future__ import annotations

import numpy as np

from . import _activations
from ._layernorm import matmul_backward, matmul_forward

STATE_NAMES = ("h",)


def options(reset_after: bool = True, layer_norm: bool = False, activation: str = "tanh",
            recurrent_activation: str = "sigmoid") -> dict:
    """Validated cell options with defaults."""
    _activations.get(activation, "activation")
    _activations.get(recurrent_activation, "recurrent_activation")
    return {"reset_after": bool(reset_after), "layer_norm": bool(layer_norm),
            "activation": activation, "recurrent_activation": recurrent_activation}


def param_shapes(input_size: int, hidden_size: int, bias: bool, opts: dict) -> dict[str, tuple]:
    """Name -> shape of every parameter these options imply."""
    H, I = hidden_size, input_size
    shapes = {"weight_ih": (3 * H, I), "weight_hh": (3 * H, H)}
    if bias:
        shapes.update(bias_ih=(3 * H,), bias_hh=(3 * H,))
    if opts["layer_norm"]:
        shapes.update(ln_ih_weight=(3 * H,), ln_hh_weight=(3 * H,))
    return shapes


def sizes(params: dict, opts: dict) -> tuple[int, int]:
    """``(input_size, hidden_size)`` read off the parameters."""
    return params["weight_ih"].shape[1], params["weight_hh"].shape[1]


def _rows(p: dict, name: str, rows: slice):
    """Rows of a parameter, or None when the parameter is absent (no bias / no layer norm)."""
    return p[name][rows] if name in p else None


def step_forward(p: dict, opts: dict, x: np.ndarray, state: tuple, mask: np.ndarray):
    """One step. x (B, I), state = (h_prev (B, H),), mask (B, H). Returns ((h,), cache)."""
    sig, _ = _activations.get(opts["recurrent_activation"])
    phi, _ = _activations.get(opts["activation"])
    ln = opts["layer_norm"]
    (h_prev,) = state
    H = h_prev.shape[1]
    rz, nn = slice(0, 2 * H), slice(2 * H, 3 * H)
    hm = h_prev * mask                                                   # recurrent dropout on h_{t-1}
    gi, cache_i = matmul_forward(x, p["weight_ih"], p["ln_ih_weight"] if ln else None, 3)
    if "bias_ih" in p:
        gi = gi + p["bias_ih"]                                           # (B, 3H)
    ln_hh = p["ln_hh_weight"] if ln else None
    if opts["reset_after"]:
        gh, cache_h = matmul_forward(hm, p["weight_hh"], ln_hh, 3)      # (B, 3H)
        if "bias_hh" in p:
            gh = gh + p["bias_hh"]
        ghn = gh[:, nn]
    else:
        gh, cache_h = matmul_forward(hm, p["weight_hh"][rz], _rows(p, "ln_hh_weight", rz), 2)   # (B, 2H)
        if "bias_hh" in p:
            gh = gh + p["bias_hh"][rz]
    ar = gi[:, :H] + gh[:, :H]
    az = gi[:, H:2 * H] + gh[:, H:2 * H]
    r = sig(ar)                                                          # reset gate
    z = sig(az)                                                          # update gate
    cache_n = None
    if opts["reset_after"]:
        an = gi[:, nn] + r * ghn                                         # r applied after the product
    else:
        ghn, cache_n = matmul_forward(r * hm, p["weight_hh"][nn], _rows(p, "ln_hh_weight", nn), 1)
        if "bias_hh" in p:
            ghn = ghn + p["bias_hh"][nn]
        an = gi[:, nn] + ghn                                             # r applied before the product
    n = phi(an)                                                          # candidate
    h = (1.0 - z) * n + z * h_prev                                       # (B, H)
    return (h,), (mask, h_prev, hm, cache_i, cache_h, cache_n, ar, r, az, z, ghn, an, n)


def step_backward(p: dict, opts: dict, cache: tuple, d_state: tuple, grads: dict):
    """Backward of one step: adds parameter gradients into ``grads``; returns ((dh_prev,), dx)."""
    _, dsig = _activations.get(opts["recurrent_activation"])
    _, dphi = _activations.get(opts["activation"])
    ln = opts["layer_norm"]
    mask, h_prev, hm, cache_i, cache_h, cache_n, ar, r, az, z, ghn, an, n = cache
    (dh,) = d_state
    H = h_prev.shape[1]
    rz, nn = slice(0, 2 * H), slice(2 * H, 3 * H)
    dn = dh * (1.0 - z)                          # dL/dn = dL/dh * (1 - z)
    dz = dh * (h_prev - n)                       # dL/dz = dL/dh * (h_{t-1} - n)
    dh_prev = dh * z                             # dL/dh_{t-1} through z * h_{t-1} (unmasked)
    dan = dn * dphi(an, n)                       # dL/dan = dL/dn * phi'(an)
    if opts["reset_after"]:
        dr = dan * ghn                           # dL/dr = dL/dan * gh_n
        dghn = dan * r                           # dL/dgh_n = dL/dan * r
    else:
        dghn = dan                               # an = gi_n + ghn
        drhm, dW, dln = matmul_backward(dghn, cache_n)   # ghn = [LN]((r*hm) W_hh_n^T)[* ln_hh_n]
        grads["weight_hh"][nn] += dW
        if ln:
            grads["ln_hh_weight"][nn] += dln
        dr = drhm * hm                           # dL/dr = dL/d(r*hm) * hm
        dhm_n = drhm * r                         # dL/dhm (through n) = dL/d(r*hm) * r
    dar = dr * dsig(ar, r)                     # dL/dar = dL/dr * sigma'(ar)
    daz = dz * dsig(az, z)                     # dL/daz = dL/dz * sigma'(az)
    dgi = np.concatenate([dar, daz, dan], axis=1)            # (B, 3H): gi enters r, z, n linearly
    if "bias_ih" in p:
        grads["bias_ih"] += dgi.sum(axis=0)                  # dL/db_ih = sum_b dgi
        grads["bias_hh"][rz] += dgi[:, rz].sum(axis=0)       # dL/db_hh_rz = sum_b [dar, daz]
        grads["bias_hh"][nn] += dghn.sum(axis=0)             # dL/db_hh_n = sum_b dgh_n
    dx, dW, dln = matmul_backward(dgi, cache_i)              # gi = [LNb](x W_ih^T)[* ln_ih]
    grads["weight_ih"] += dW
    if ln:
        grads["ln_ih_weight"] += dln
    if opts["reset_after"]:
        dgh = np.concatenate([dar, daz, dghn], axis=1)       # (B, 3H)
        dhm, dW, dln = matmul_backward(dgh, cache_h)         # gh = [LNb](hm W_hh^T)[* ln_hh]
        grads["weight_hh"] += dW
        if ln:
            grads["ln_hh_weight"] += dln
    else:
        dhm, dW, dln = matmul_backward(dgi[:, rz], cache_h)  # gh_rz = [LNb](hm W_hh_rz^T)[* ln_hh_rz]
        grads["weight_hh"][rz] += dW
        if ln:
            grads["ln_hh_weight"][rz] += dln
        dhm = dhm + dhm_n
    dh_prev = dh_prev + dhm * mask               # dL/dh_{t-1} += dL/d(h_{t-1} * M) * M
    return (dh_prev,), dx
