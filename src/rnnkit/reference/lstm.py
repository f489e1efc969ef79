"""LSTM cell, one time step, with every variant of docs/cells.md: forward and hand-derived backward.

Gates in order ``i, f, g, o`` (G = 4); with ``forget_gate=False`` or ``coupled=True`` the
forget rows do not exist and the order is ``i, g, o`` (G = 3). sigma = recurrent_activation,
phi = activation, M the recurrent-dropout mask (ones when unused), R = proj_size or H::

    a   = x_t weight_ih^T + (h_{t-1} * M) weight_hh^T + bias_ih + bias_hh           (B, G*H)
          layer_norm: a = LNb(x_t weight_ih^T) * ln_ih_weight
                        + LNb((h_{t-1} * M) weight_hh^T) * ln_hh_weight + bias_ih + bias_hh
    i   = sigma(a_i + weight_ci * c_{t-1})               peephole term only if peephole
    f   = sigma(a_f + forget_bias + weight_cf * c_{t-1})  standard
        = 1 - i                                           coupled=True
        = 1                                               forget_gate=False
    g   = phi(a_g)
    c_t = f * c_{t-1} + i * g
    o   = sigma(a_o + weight_co * c_t)                    peephole term only if peephole
    m_t = o * phi(c_t)
          layer_norm: m_t = o * phi(LN(c_t) * ln_cell_weight + ln_cell_bias)
    h_t = m_t weight_hr^T      if proj_size (weight_hr (P, H)), else h_t = m_t

Parameters: weight_ih (G*H, I), weight_hh (G*H, R), bias_ih (G*H), bias_hh (G*H),
weight_ci/weight_cf/weight_co (H) (no weight_cf without a forget gate), ln_ih_weight (G*H),
ln_hh_weight (G*H), ln_cell_weight (H), ln_cell_bias (H), weight_hr (P, H).
State: ``(h (B, R), c (B, H))``; the output y_t is h_t.
"""
from __future__ import annotations

import numpy as np

from . import _activations
from ._layernorm import ln_blocks_backward, ln_blocks_forward, matmul_backward, matmul_forward

STATE_NAMES = ("h", "c")


def options(forget_bias: float = 0.0, peephole: bool = False, forget_gate: bool = True,
            coupled: bool = False, layer_norm: bool = False, proj_size: int = 0,
            activation: str = "tanh", recurrent_activation: str = "sigmoid") -> dict:
    """Validated cell options with defaults, plus the derived ``has_forget`` and ``n_gates``.

    Raises:
        ValueError: an unknown activation; ``coupled=True`` with ``forget_gate=False``;
            a non-zero ``forget_bias`` without a forget gate; a negative ``proj_size``.
    """
    _activations.get(activation, "activation")
    _activations.get(recurrent_activation, "recurrent_activation")
    if coupled and not forget_gate:
        raise ValueError("coupled=True needs forget_gate=True: the coupled forget gate is f = 1 - i")
    has_forget = forget_gate and not coupled
    if forget_bias != 0.0 and not has_forget:
        raise ValueError(f"forget_bias: must be 0 without a forget gate "
                         f"(forget_gate={forget_gate}, coupled={coupled}), got {forget_bias!r}")
    if proj_size < 0:
        raise ValueError(f"proj_size: expected >= 0, got {proj_size!r}")
    return {"forget_bias": float(forget_bias), "peephole": bool(peephole), "forget_gate": bool(forget_gate),
            "coupled": bool(coupled), "layer_norm": bool(layer_norm), "proj_size": int(proj_size),
            "activation": activation, "recurrent_activation": recurrent_activation,
            "has_forget": has_forget, "n_gates": 4 if has_forget else 3}


def param_shapes(input_size: int, hidden_size: int, bias: bool, opts: dict) -> dict[str, tuple]:
    """Name -> shape of every parameter these options imply."""
    H, I, G, P = hidden_size, input_size, opts["n_gates"], opts["proj_size"]
    R = P or H
    shapes = {"weight_ih": (G * H, I), "weight_hh": (G * H, R)}
    if bias:
        shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
    if opts["peephole"]:
        shapes["weight_ci"] = (H,)
        if opts["has_forget"]:
            shapes["weight_cf"] = (H,)
        shapes["weight_co"] = (H,)
    if opts["layer_norm"]:
        shapes.update(ln_ih_weight=(G * H,), ln_hh_weight=(G * H,), ln_cell_weight=(H,), ln_cell_bias=(H,))
    if P:
        shapes["weight_hr"] = (P, H)
    return shapes


def sizes(params: dict, opts: dict) -> tuple[int, int]:
    """``(input_size, hidden_size)`` read off the parameters."""
    return params["weight_ih"].shape[1], params["weight_ih"].shape[0] // opts["n_gates"]


def step_forward(p: dict, opts: dict, x: np.ndarray, state: tuple, mask: np.ndarray):
    """One step. x (B, I), state = (h_prev (B, R), c_prev (B, H)), mask (B, R).

    Returns ``((h (B, R), c (B, H)), cache)``.
    """
    sig, _ = _activations.get(opts["recurrent_activation"])
    phi, _ = _activations.get(opts["activation"])
    G, ln, peep = opts["n_gates"], opts["layer_norm"], opts["peephole"]
    h_prev, c_prev = state
    hm = h_prev * mask                                                   # recurrent dropout on h_{t-1}
    ax, cache_x = matmul_forward(x, p["weight_ih"], p["ln_ih_weight"] if ln else None, G)
    ah, cache_h = matmul_forward(hm, p["weight_hh"], p["ln_hh_weight"] if ln else None, G)
    a = ax + ah                                                          # (B, G*H)
    if "bias_ih" in p:
        a = a + p["bias_ih"] + p["bias_hh"]
    blocks = np.split(a, G, axis=1)                                      # G x (B, H)
    if opts["has_forget"]:
        a_i, a_f, a_g, a_o = blocks
    else:
        a_i, a_g, a_o = blocks
    ai = a_i + p["weight_ci"] * c_prev if peep else a_i                  # input-gate pre-activation
    i = sig(ai)
    af = None
    if opts["has_forget"]:
        af = a_f + opts["forget_bias"] + (p["weight_cf"] * c_prev if peep else 0.0)
        f = sig(af)
    elif opts["coupled"]:
        f = 1.0 - i                                                      # coupled: f = 1 - i
    else:
        f = np.ones_like(i)                                              # no forget gate: f = 1
    g = phi(a_g)
    c = f * c_prev + i * g                                               # (B, H)
    ao = a_o + p["weight_co"] * c if peep else a_o                       # output-gate pre-activation
    o = sig(ao)
    chat = ln_cache = None
    if ln:
        chat, ln_cache = ln_blocks_forward(c, 1)
        cn = chat * p["ln_cell_weight"] + p["ln_cell_bias"]              # LN(c) * gamma + beta
    else:
        cn = c
    phic = phi(cn)
    m = o * phic                                                         # (B, H)
    h = m @ p["weight_hr"].T if opts["proj_size"] else m                 # (B, R)
    cache = (mask, c_prev, cache_x, cache_h, ai, i, af, f, a_g, g, c, ao, o, chat, ln_cache, cn, phic, m)
    return (h, c), cache


def step_backward(p: dict, opts: dict, cache: tuple, d_state: tuple, grads: dict):
    """Backward of one step: adds parameter gradients into ``grads``.

    d_state = (dL/dh_t, dL/dc_t) from later steps and the outputs.
    Returns ``((dL/dh_{t-1}, dL/dc_{t-1}), dL/dx_t)``.
    """
    _, dsig = _activations.get(opts["recurrent_activation"])
    _, dphi = _activations.get(opts["activation"])
    ln, peep = opts["layer_norm"], opts["peephole"]
    (mask, c_prev, cache_x, cache_h, ai, i, af, f, a_g, g, c, ao, o, chat, ln_cache, cn, phic, m) = cache
    dh, dc_next = d_state
    if opts["proj_size"]:
        grads["weight_hr"] += dh.T @ m                 # dL/dW_hr = sum_b dh m^T   (h = m W_hr^T)
        dm = dh @ p["weight_hr"]                       # dL/dm = dh W_hr
    else:
        dm = dh                                        # h = m
    do = dm * phic                                     # dL/do = dL/dm * phi(c)
    dcn = dm * o * dphi(cn, phic)                      # dL/dcn = dL/dm * o * phi'(cn)
    if ln:
        grads["ln_cell_weight"] += (dcn * chat).sum(axis=0)   # dL/dgamma = sum_b dcn * LN(c)
        grads["ln_cell_bias"] += dcn.sum(axis=0)              # dL/dbeta = sum_b dcn
        dc = dc_next + ln_blocks_backward(dcn * p["ln_cell_weight"], ln_cache)  # through LN(c)
    else:
        dc = dc_next + dcn                             # dL/dc_t = from c_{t+1} + from m_t
    dao = do * dsig(ao, o)                             # dL/dao = dL/do * sigma'(ao)
    if peep:
        grads["weight_co"] += (dao * c).sum(axis=0)    # dL/dw_co = sum_b dao * c_t
        dc = dc + dao * p["weight_co"]                 # the o peephole reads c_t
    di = dc * g                                        # dL/di = dL/dc * g   (c = f c_prev + i g)
    dg = dc * i                                        # dL/dg = dL/dc * i
    df = dc * c_prev                                   # dL/df = dL/dc * c_{t-1}
    dc_prev = dc * f                                   # dL/dc_{t-1} = dL/dc * f   (f = 1: no forget gate)
    if opts["coupled"]:
        di = di - df                                   # f = 1 - i: dL/di -= dL/df
    dag = dg * dphi(a_g, g)                            # dL/da_g = dL/dg * phi'(a_g)
    dai = di * dsig(ai, i)                             # dL/dai = dL/di * sigma'(ai)
    if peep:
        grads["weight_ci"] += (dai * c_prev).sum(axis=0)   # dL/dw_ci = sum_b dai * c_{t-1}
        dc_prev = dc_prev + dai * p["weight_ci"]           # the i peephole reads c_{t-1}
    if opts["has_forget"]:
        daf = df * dsig(af, f)                         # dL/daf = dL/df * sigma'(af)
        if peep:
            grads["weight_cf"] += (daf * c_prev).sum(axis=0)   # dL/dw_cf = sum_b daf * c_{t-1}
            dc_prev = dc_prev + daf * p["weight_cf"]           # the f peephole reads c_{t-1}
        da = np.concatenate([dai, daf, dag, dao], axis=1)      # (B, 4H), gate order i, f, g, o
    else:
        da = np.concatenate([dai, dag, dao], axis=1)           # (B, 3H), gate order i, g, o
    if "bias_ih" in p:
        grads["bias_ih"] += da.sum(axis=0)             # dL/db_ih = sum_b da
        grads["bias_hh"] += da.sum(axis=0)             # dL/db_hh = sum_b da
    dx, dW, dln = matmul_backward(da, cache_x)         # a = [LNb](x W_ih^T)[* ln_ih] + ...
    grads["weight_ih"] += dW
    if ln:
        grads["ln_ih_weight"] += dln
    dhm, dW, dln = matmul_backward(da, cache_h)        # a = ... + [LNb]((h*M) W_hh^T)[* ln_hh]
    grads["weight_hh"] += dW
    if ln:
        grads["ln_hh_weight"] += dln
    dh_prev = dhm * mask                               # dL/dh_{t-1} = dL/d(h_{t-1} * M) * M
    return (dh_prev, dc_prev), dx
