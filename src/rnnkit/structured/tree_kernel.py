r"""The level schedule as one ``torch.autograd.Function``: hand-derived backpropagation through structure.

The autograd level loop records a dozen ops per level and, because every level reads children from
and writes states into one ``(N + 1, H)`` buffer, sends a full-size gradient through every level.
This kernel runs the same levels without recording: the forward pass keeps each level's gates, the
backward pass walks the levels top-down with one gradient buffer per state, whose rows each level
reads for its nodes (complete by then: their parents are done) and adds into for its children::

    recursive   z = x_proj + S W_hh^T, h = f(z)          dz = dh f'(z)        dS = dz W_hh
    nary        A = x_proj[i, f.., g, o] + S W_hh^T       (S = [h_1; ..; h_N], slots as the cell)
    child-sum   A_igo = x_proj + h~ U_igo^T, A_fk = x_proj_f + h_k U_f^T
                dc  = dc + dh o (1 - tanh² c),  do = dh tanh c
                da_i = dc g σ'(i),  da_g = dc i (1 - g²),  da_o = do σ'(o),  da_fk = dc c_k σ'(f_k)
                dc_k += dc f_k,  dW_hh += dA^T S,  dS = dA W_hh  (child-sum: dh_k = dh~ + da_fk U_f)

x_proj already holds ``b_ih + b_hh``; the kernel returns its gradient and W_hh's, autograd does the
rest (the input projection, the embedding). Once-differentiable: double backward raises
:class:`rnnkit.kernels.DoubleBackwardError`; ``tree_forward(..., kernel=False)`` runs the autograd loop.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..cells import LSTMState
from ..kernels.activations import KERNEL_ACTIVATIONS
from ..kernels.common import DoubleBackwardError
from .tree_cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell, RecursiveCell, TreeCell


def kernel_spec(cell: TreeCell) -> tuple | None:
    """``(kind, arity, activation)`` of a built-in tree cell the kernel computes, else None
    (a subclass, or a recursive cell with a callable nonlinearity)."""
    if type(cell) is ChildSumTreeLSTMCell:
        return ("child-sum", 0, "")
    if type(cell) is NaryTreeLSTMCell:
        return ("nary", cell.arity, "")
    if type(cell) is RecursiveCell and cell.nonlinearity in KERNEL_ACTIVATIONS:
        return ("recursive", cell.arity, cell.nonlinearity)
    return None


def run_tree_kernel(spec: tuple, x_proj: torch.Tensor, weight_hh: torch.Tensor,
                    levels: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """Every node's state: ``h (N, H)`` or ``LSTMState(h, c)``, from ``x_proj (N, G*H)`` and the levels
    ``(nodes (P,), children (P, K))`` (child slots padded with N to the arity for recursive / nary; a level
    without children, the leaves, stays ``K = 0`` and skips the recurrent product of zero states)."""
    kind, arity, _ = spec
    if kind != "child-sum":
        levels = [(nodes, _pad_slots(children, arity, x_proj.shape[0]) if children.shape[1] else children)
                  for nodes, children in levels]
    out = _TreeLevels.apply(spec, tuple(levels), x_proj, weight_hh)
    return out[0] if kind == "recursive" else LSTMState(*out)


def _pad_slots(children: torch.Tensor, arity: int, n: int) -> torch.Tensor:
    width = children.shape[1]
    if width > arity:
        raise ValueError(f"children: a node has {width} children, more than this cell's arity {arity}")
    return F.pad(children, (0, arity - width), value=n)


class _TreeLevels(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec, levels, x_proj, weight_hh):
        kind, _, activation = spec
        n = x_proj.shape[0]
        H = x_proj.shape[1] // (1 if kind == "recursive" else 4)
        h = x_proj.new_zeros(n + 1, H)                                          # row n: the empty slot
        c = x_proj.new_zeros(n + 1, H) if kind != "recursive" else None
        saved = []
        for nodes, children in levels:
            xp = x_proj[nodes]                                                  # (P, G*H)
            if kind == "recursive":
                z = torch.addmm(xp, h[children].flatten(1), weight_hh.t()) if children.shape[1] else xp  # (P, H)
                state = KERNEL_ACTIVATIONS[activation].into(z, z)
                saved.append(state)
            else:
                gates, c_new = _lstm_level(kind, xp, h, c, children, weight_hh)
                state = gates[3] * torch.tanh(c_new)                            # h = o tanh(c)
                c[nodes] = c_new
                saved.append(gates)
            h[nodes] = state
        ctx.spec, ctx.levels, ctx.gates = spec, levels, saved
        outputs = (h[:n],) if kind == "recursive" else (h[:n], c[:n])
        ctx.save_for_backward(weight_hh, *outputs)
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        if torch.is_grad_enabled():
            raise DoubleBackwardError("tree_forward: the tree kernel does not support double backward "
                                      "(create_graph=True); call tree_forward(..., kernel=False)")
        kind, _, activation = ctx.spec
        weight_hh, *states = ctx.saved_tensors
        n, H = states[0].shape
        pad = states[0].new_zeros(1, H)
        h = torch.cat([states[0], pad])                                         # (N+1, H), row N zero
        c = torch.cat([states[1], pad]) if kind != "recursive" else None
        dh = torch.cat([grads[0] if grads[0] is not None else pad.new_zeros(n, H), pad])
        dc = torch.cat([grads[1] if grads[1] is not None else pad.new_zeros(n, H), pad]) if c is not None else None
        d_xproj = h.new_zeros(n, H if kind == "recursive" else 4 * H)
        d_weight = torch.zeros_like(weight_hh)
        for (nodes, children), saved in zip(reversed(ctx.levels), reversed(ctx.gates)):
            if kind == "recursive":
                dz = dh[nodes] * KERNEL_ACTIVATIONS[activation].derivative(saved)   # dz = dh f'(z)
                d_xproj[nodes] = dz
                if not children.shape[1]:                                            # leaves: no W_hh term
                    continue
                slots = h[children].flatten(1)                                       # S (P, N*H)
                d_weight.addmm_(dz.t(), slots)                                       # dW_hh += dz^T S
                dh.index_add_(0, children.flatten(), (dz @ weight_hh).view(-1, H))  # dh_k += (dz W_hh)_k
            else:
                _lstm_level_backward(kind, saved, nodes, children, h, c, dh, dc, weight_hh, d_weight, d_xproj)
        return None, None, d_xproj, d_weight


def _lstm_level(kind: str, xp: torch.Tensor, h: torch.Tensor, c: torch.Tensor, children: torch.Tensor,
                weight_hh: torch.Tensor):
    """The gates ``(i, f (P, K, H), g, o)`` and the new cells ``c (P, H)`` of one level of a Tree-LSTM."""
    P, K = children.shape
    H = h.shape[1]
    x_i, x_f, x_g, x_o = xp.chunk(4, dim=1)
    h_k, c_k = h[children], c[children]                                          # (P, K, H)
    if K == 0:                                                                   # leaves: x_proj alone
        r_i = r_g = r_o = 0.0
        r_f = xp.new_zeros(P, 0, H)
    elif kind == "nary":
        r = h_k.flatten(1) @ weight_hh.t()                                       # (P, (3+K)H)
        r_i, r_f, r_g, r_o = r.split([H, K * H, H, H], dim=1)
        r_f = r_f.view(P, K, H)
    else:
        r_i, r_g, r_o = (h_k.sum(1) @ torch.cat([weight_hh[:H], weight_hh[2 * H:]]).t()).chunk(3, dim=1)
        r_f = h_k @ weight_hh[H:2 * H].t()                                       # (P, K, H)
    i, f = torch.sigmoid(x_i + r_i), torch.sigmoid(x_f[:, None] + r_f)
    g, o = torch.tanh(x_g + r_g), torch.sigmoid(x_o + r_o)
    return (i, f, g, o), i * g + (f * c_k).sum(1)


_sigmoid_grad = torch.ops.aten.sigmoid_backward    # (g, y) -> g y (1 - y), one fused elementwise pass
_tanh_grad = torch.ops.aten.tanh_backward          # (g, y) -> g (1 - y²)


def _lstm_level_backward(kind, gates, nodes, children, h, c, dh, dc, weight_hh, d_weight, d_xproj) -> None:
    """One level's backward (module docstring): writes dL/dx_proj of its nodes, adds into dW_hh and
    into the children's rows of ``dh`` / ``dc``."""
    i, f, g, o = gates
    P, K = children.shape
    H = h.shape[1]
    tc = torch.tanh(c[nodes])
    dh_j = dh[nodes]
    dc_j = dc[nodes] + _tanh_grad(dh_j * o, tc)                                  # dc += dh o tanh'(c)
    da_i = _sigmoid_grad(dc_j * g, i)                                            # dc g σ'(a_i)
    da_g = _tanh_grad(dc_j * i, g)                                               # dc i tanh'(a_g)
    da_o = _sigmoid_grad(dh_j * tc, o)                                           # dh tanh(c) σ'(a_o)
    c_k, h_k = c[children], h[children]                                          # (P, K, H)
    da_f = _sigmoid_grad(dc_j[:, None] * c_k, f)                                 # dc c_k σ'(a_fk)
    d_xproj[nodes] = torch.cat([da_i, da_f.sum(1), da_g, da_o], dim=1)
    flat = children.flatten()
    if K == 0:                                                                   # leaves: no children, no W_hh
        return
    dc.index_add_(0, flat, (dc_j[:, None] * f).view(-1, H))                      # dc_k += dc f_k
    if kind == "nary":
        dA = torch.cat([da_i, da_f.flatten(1), da_g, da_o], dim=1)               # (P, (3+K)H)
        d_weight.addmm_(dA.t(), h_k.flatten(1))                                  # dW_hh += dA^T S
        dh.index_add_(0, flat, (dA @ weight_hh).view(-1, H))                     # dh_k += (dA W_hh)_k
        return
    igo = torch.cat([weight_hh[:H], weight_hh[2 * H:]])                          # U_i, U_g, U_o
    dA = torch.cat([da_i, da_g, da_o], dim=1)                                    # (P, 3H)
    d_weight[:H].addmm_(da_i.t(), h_k.sum(1))                                    # dU_igo += dA^T h~
    d_weight[2 * H:].addmm_(torch.cat([da_g, da_o], 1).t(), h_k.sum(1))
    d_weight[H:2 * H].addmm_(da_f.reshape(-1, H).t(), h_k.reshape(-1, H))        # dU_f += Σ_k da_fk^T h_k
    dh_k = (dA @ igo)[:, None] + da_f @ weight_hh[H:2 * H]                       # dh_k = dh~ + da_fk U_f
    dh.index_add_(0, flat, dh_k.reshape(-1, H))
