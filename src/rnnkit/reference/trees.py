"""Tree cells over one tree, node by node: forward and hand-derived backpropagation through structure.

The tree is its parent array (``-1`` at the root; children ordered by index). The forward pass
visits the nodes children-first; the backward pass visits them parents-first, so a node's
gradient is complete — its own term plus what each parent sends down — before it is used.
The equations (σ the sigmoid, H the hidden size, slots padded with zero states)::

    recursive   h_j = f(W_ih x_j + b_ih + W_hh [h_j1; ..; h_jN] + b_hh)          W_hh (H, N*H)
    child-sum   h~ = Σ_k h_jk
                i = σ(W_i x + U_i h~ + b_i)   f_k = σ(W_f x + U_f h_jk + b_f)
                g = tanh(W_g x + U_g h~ + b_g)   o = σ(W_o x + U_o h~ + b_o)     U = W_hh (4H, H)
                c_j = i g + Σ_k f_k c_jk   h_j = o tanh(c_j)
    nary        r = W_hh [h_j1; ..; h_jN]   (row blocks i, f_1..f_N, g, o;  W_hh ((3+N)H, N*H))
                i = σ(W_i x + r_i + b_i)   f_k = σ(W_f x + r_fk + b_f)   g, o likewise
                c_j = i g + Σ_k f_k c_jk   h_j = o tanh(c_j)

W = weight_ih (G*H, I), gate blocks i, f, g, o; b = bias_ih + bias_hh. Vectors are 1-D per node.
"""
from __future__ import annotations

import numpy as np

from . import _activations

KINDS = ("recursive", "child-sum", "nary")
SIGMOID, DSIGMOID = _activations.get("sigmoid")
TANH, DTANH = _activations.get("tanh")


def param_shapes(kind: str, input_size: int, hidden_size: int, *, arity: int = 2, bias: bool = True) -> dict:
    """Name -> shape of the parameters of a ``kind`` tree cell (torch's names and shapes)."""
    H, I, N = hidden_size, input_size, arity
    G = 1 if _kind(kind) == "recursive" else 4
    hh = {"recursive": (H, N * H), "child-sum": (4 * H, H), "nary": ((3 + N) * H, N * H)}[kind]
    shapes = {"weight_ih": (G * H, I), "weight_hh": hh}
    if bias:
        shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
    return shapes


def init_params(kind: str, input_size: int, hidden_size: int, *, arity: int = 2, bias: bool = True,
                rng: np.random.Generator, scale: float = 0.5) -> dict:
    """Every parameter of a ``kind`` tree cell ~ uniform(-scale, scale), float64."""
    return {name: rng.uniform(-scale, scale, size=shape)
            for name, shape in param_shapes(kind, input_size, hidden_size, arity=arity, bias=bias).items()}


def structure(parents) -> tuple[list[list[int]], list[int]]:
    """``(children, order)``: each node's children in index order, and the nodes children-first."""
    parents = [int(p) for p in parents]
    children: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    order, stack = [], [(parents.index(-1), False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(children[node]))
    if len(order) != len(parents):
        raise ValueError("parents: a node does not reach the root")
    return children, order


def forward(kind: str, params: dict, parents, x: np.ndarray, *, arity: int = 2, nonlinearity: str = "tanh"):
    """Runs a tree cell over one tree.

    Arguments:
        kind: ``"recursive"``, ``"child-sum"`` or ``"nary"``.  params: torch's names (bias iff "bias_ih").
        parents: the parent array.  x: ``(n, I)`` node inputs.  arity: N (recursive, nary).
        nonlinearity: f of the recursive cell.
    Returns:
        ``(h (n, H), c (n, H) or None, cache)``.
    """
    kind = _kind(kind)
    children, order = structure(parents)
    H = params["weight_ih"].shape[0] // (1 if kind == "recursive" else 4)
    n = len(children)
    h, c = np.zeros((n, H)), np.zeros((n, H))
    caches: dict[int, tuple] = {}
    for j in order:
        kids = children[j]
        if kind != "child-sum" and len(kids) > arity:
            raise ValueError(f"parents: node {j} has {len(kids)} children, more than arity {arity}")
        if kind == "recursive":
            h[j], caches[j] = _recursive_forward(params, x[j], _slots(h, kids, arity), nonlinearity)
        else:
            step = _child_sum_forward if kind == "child-sum" else _nary_forward
            ch, cc = (h[kids], c[kids]) if kind == "child-sum" else (_slots(h, kids, arity), _slots(c, kids, arity))
            (h[j], c[j]), caches[j] = step(params, x[j], ch, cc)
    cache = (kind, params, children, order, arity, nonlinearity, x, caches)
    return h, (None if kind == "recursive" else c), cache


def backward(cache, d_h: np.ndarray, d_c: np.ndarray | None = None) -> dict:
    """Backpropagation through structure.

    Arguments:
        cache: from :func:`forward`.  d_h: ``(n, H)`` dL/dh_j from outside the tree (e.g. a classifier
            at every node).  d_c: ``(n, H)`` dL/dc_j from outside (LSTM kinds; None: zeros).
    Returns:
        dict name -> gradient for every parameter and ``"x"`` ``(n, I)``.
    """
    kind, params, children, order, arity, nonlinearity, x, caches = cache
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh = np.array(d_h, dtype=np.float64)                          # accumulates the parents' terms too
    dc = np.zeros_like(dh) if d_c is None else np.array(d_c, dtype=np.float64)
    dx = np.zeros_like(x, dtype=np.float64)
    for j in reversed(order):                                     # parents before children
        kids = children[j]
        if kind == "recursive":
            dx[j], d_slots = _recursive_backward(params, caches[j], dh[j], grads, nonlinearity)
            for k, child in enumerate(kids):
                dh[child] += d_slots[k]                           # dL/dh_child += the parent's share
        else:
            step = _child_sum_backward if kind == "child-sum" else _nary_backward
            dx[j], d_ch, d_cc = step(params, caches[j], dh[j], dc[j], grads)
            for k, child in enumerate(kids):
                dh[child] += d_ch[k]
                dc[child] += d_cc[k]
    grads["x"] = dx
    return grads


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {list(KINDS)}, got {kind!r}")
    return kind


def _slots(states: np.ndarray, kids: list[int], arity: int) -> np.ndarray:
    """The children's rows in ``arity`` slots, zero rows for the empty ones: ``(N, H)``."""
    out = np.zeros((arity, states.shape[1]))
    out[:len(kids)] = states[kids]
    return out


def _bias(params: dict, name: str, size: int) -> np.ndarray:
    return params[name] if name in params else np.zeros(size)


# ---------------------------------------------------------------------------------------------- recursive NN
def _recursive_forward(p: dict, x: np.ndarray, slots: np.ndarray, nonlinearity: str):
    f, _ = _activations.get(nonlinearity, "nonlinearity")
    H = p["weight_ih"].shape[0]
    s = slots.reshape(-1)                                                   # [h_1; ..; h_N]   (N*H,)
    z = p["weight_ih"] @ x + _bias(p, "bias_ih", H) + p["weight_hh"] @ s + _bias(p, "bias_hh", H)
    h = f(z)
    return h, (x, s, z, h)


def _recursive_backward(p: dict, cache: tuple, dh: np.ndarray, grads: dict, nonlinearity: str):
    _, df = _activations.get(nonlinearity, "nonlinearity")
    x, s, z, h = cache
    dz = dh * df(z, h)                                   # dL/dz = dL/dh * f'(z)
    grads["weight_ih"] += np.outer(dz, x)                # dL/dW_ih = dz x^T
    grads["weight_hh"] += np.outer(dz, s)                # dL/dW_hh = dz [h_1; ..; h_N]^T
    if "bias_ih" in p:
        grads["bias_ih"] += dz                           # dL/db_ih = dL/db_hh = dz
        grads["bias_hh"] += dz
    d_slots = (p["weight_hh"].T @ dz).reshape(-1, h.shape[0])   # dL/dh_k = W_hh[:, slot k]^T dz
    return p["weight_ih"].T @ dz, d_slots                # dL/dx = W_ih^T dz


# ---------------------------------------------------------------------------------------------- LSTM gates
def _gates(p: dict, x: np.ndarray, r_igo: tuple, r_f: np.ndarray):
    """i, f (K, H), g, o from the input and the recurrent terms; returns them and the pre-activations."""
    H = r_igo[0].shape[0]
    b = _bias(p, "bias_ih", 4 * H) + _bias(p, "bias_hh", 4 * H)
    xp = p["weight_ih"] @ x + b                                             # (4H,) blocks i, f, g, o
    a_i, a_f, a_g, a_o = xp[:H] + r_igo[0], xp[H:2 * H] + r_f, xp[2 * H:3 * H] + r_igo[1], xp[3 * H:] + r_igo[2]
    return (SIGMOID(a_i), SIGMOID(a_f), TANH(a_g), SIGMOID(a_o)), (a_i, a_f, a_g, a_o)


def _cell_update(gates: tuple, c_k: np.ndarray):
    i, f, g, o = gates
    c = i * g + (f * c_k).sum(axis=0)                                       # c = i g + Σ_k f_k c_k
    return o * TANH(c), c


def _gates_backward(gates: tuple, pre: tuple, c: np.ndarray, c_k: np.ndarray, dh: np.ndarray, dc: np.ndarray):
    """dL/da for a_i, a_f (K, H), a_g, a_o, and dL/dc_k, from dL/dh and dL/dc of the node."""
    i, f, g, o = gates
    a_i, a_f, a_g, a_o = pre
    tc = TANH(c)
    do = dh * tc                                          # h = o tanh(c):  dL/do = dh tanh(c)
    dc = dc + dh * o * DTANH(c, tc)                       # dL/dc += dh o tanh'(c)
    da_i = dc * g * DSIGMOID(a_i, i)                      # dL/da_i = dc g σ'(a_i)
    da_g = dc * i * DTANH(a_g, g)                         # dL/da_g = dc i tanh'(a_g)
    da_f = dc * c_k * DSIGMOID(a_f, f)                    # dL/da_fk = dc c_k σ'(a_fk)     (K, H)
    da_o = do * DSIGMOID(a_o, o)                          # dL/da_o = do σ'(a_o)
    return (da_i, da_f, da_g, da_o), dc * f               # dL/dc_k = dc f_k


def _input_backward(p: dict, x: np.ndarray, da: tuple, grads: dict) -> np.ndarray:
    """Gradients of W_ih x + b_ih + b_hh (the forget block gets Σ_k dL/da_fk); returns dL/dx."""
    da_i, da_f, da_g, da_o = da
    dxp = np.concatenate([da_i, da_f.sum(axis=0), da_g, da_o])   # (4H,)
    grads["weight_ih"] += np.outer(dxp, x)                       # dL/dW_ih = dxp x^T
    if "bias_ih" in p:
        grads["bias_ih"] += dxp
        grads["bias_hh"] += dxp
    return p["weight_ih"].T @ dxp                                # dL/dx = W_ih^T dxp


# ---------------------------------------------------------------------------------------------- Child-Sum
def _child_sum_forward(p: dict, x: np.ndarray, h_k: np.ndarray, c_k: np.ndarray):
    H = p["weight_hh"].shape[1]
    U = p["weight_hh"]
    h_sum = h_k.sum(axis=0)                                                  # h~ = Σ_k h_k
    r_igo = (U[:H] @ h_sum, U[2 * H:3 * H] @ h_sum, U[3 * H:] @ h_sum)
    r_f = h_k @ U[H:2 * H].T                                                 # U_f h_k per child (K, H)
    gates, pre = _gates(p, x, r_igo, r_f)
    h, c = _cell_update(gates, c_k)
    return (h, c), (x, h_k, c_k, h_sum, gates, pre, c)


def _child_sum_backward(p: dict, cache: tuple, dh: np.ndarray, dc: np.ndarray, grads: dict):
    x, h_k, c_k, h_sum, gates, pre, c = cache
    H = h_sum.shape[0]
    U = p["weight_hh"]
    da, dc_k = _gates_backward(gates, pre, c, c_k, dh, dc)
    da_i, da_f, da_g, da_o = da
    dx = _input_backward(p, x, da, grads)
    da_igo = np.concatenate([da_i, da_g, da_o])                              # rows i, g, o of U
    rows_igo = np.r_[0:H, 2 * H:4 * H]
    grads["weight_hh"][rows_igo] += np.outer(da_igo, h_sum)                  # dL/dU_igo = da h~^T
    grads["weight_hh"][H:2 * H] += da_f.T @ h_k                              # dL/dU_f = Σ_k da_fk h_k^T
    dh_sum = U[rows_igo].T @ da_igo                                          # dL/dh~
    dh_k = dh_sum[None, :] + da_f @ U[H:2 * H]                               # dL/dh_k = dL/dh~ + U_f^T da_fk
    return dx, dh_k, dc_k


# ---------------------------------------------------------------------------------------------- N-ary
def _nary_forward(p: dict, x: np.ndarray, h_k: np.ndarray, c_k: np.ndarray):
    N, H = h_k.shape
    s = h_k.reshape(-1)                                                      # [h_1; ..; h_N]   (N*H,)
    r = p["weight_hh"] @ s                                                   # ((3+N)H,)
    r_igo = (r[:H], r[(1 + N) * H:(2 + N) * H], r[(2 + N) * H:])
    r_f = r[H:(1 + N) * H].reshape(N, H)                                     # Σ_l U^f_kl h_l per slot k
    gates, pre = _gates(p, x, r_igo, r_f)
    h, c = _cell_update(gates, c_k)
    return (h, c), (x, s, c_k, gates, pre, c)


def _nary_backward(p: dict, cache: tuple, dh: np.ndarray, dc: np.ndarray, grads: dict):
    x, s, c_k, gates, pre, c = cache
    N, H = c_k.shape
    da, dc_k = _gates_backward(gates, pre, c, c_k, dh, dc)
    da_i, da_f, da_g, da_o = da
    dx = _input_backward(p, x, da, grads)
    dr = np.concatenate([da_i, da_f.reshape(-1), da_g, da_o])               # dL/dr, rows i, f_1..f_N, g, o
    grads["weight_hh"] += np.outer(dr, s)                                    # dL/dW_hh = dr [h_1; ..; h_N]^T
    dh_k = (p["weight_hh"].T @ dr).reshape(N, H)                             # dL/dh_k = W_hh[:, slot k]^T dr
    return dx, dh_k, dc_k
