r"""Tree cells: one node's state from its input and its children's states, for many nodes at once.

A tree cell splits its work as the chain cells do (:mod:`rnnkit.cells.base`)::

    x_proj = cell.project_input(x)              (N, I) -> (N, G*H): x W_ih^T + b_ih + b_hh, one GEMM
    state  = cell.step(x_proj, children)        the children's states (P, K, .) -> (P, .)

``children`` holds each node's K child states in order; a node with fewer children than K has
zero states in the empty slots (``h = c = 0``), which add nothing to any sum below. Nodes without
an input (the inner constituents of a parse tree) take ``x = 0``, so their ``x_proj`` is ``b_ih + b_hh``.

Recursive NN (Socher et al. 2011; ``arity`` N child slots, f = ``nonlinearity``)::

    h_j = f(x_j weight_ih^T + bias_ih + [h_j1; ...; h_jN] weight_hh^T + bias_hh)
    weight_ih (H, I), weight_hh (H, N*H); at a leaf h_j = f(x_j weight_ih^T + biases)

Child-Sum Tree-LSTM (Tai et al. 2015, eqs. 2-8; any number of children, gates i, f, g(=u), o)::

    h~_j  = Σ_k h_jk
    i_j   = σ(x_j W_i^T + h~_j U_i^T + b_i)           W = weight_ih (4H, I), U = weight_hh (4H, H),
    f_jk  = σ(x_j W_f^T + h_jk U_f^T + b_f)           b = bias_ih + bias_hh, blocks in the order i, f, g, o
    g_j   = tanh(x_j W_g^T + h~_j U_g^T + b_g)
    o_j   = σ(x_j W_o^T + h~_j U_o^T + b_o)
    c_j   = i_j * g_j + Σ_k f_jk * c_jk
    h_j   = o_j * tanh(c_j)

N-ary Tree-LSTM (Tai et al. 2015, eqs. 9-14; children in N ordered slots; binary: N = 2)::

    r_j   = [h_j1; ...; h_jN] weight_hh^T                weight_hh ((3+N)H, N*H), row blocks i, f_1..f_N, g, o
    i_j   = σ(x_j W_i^T + r_i + b_i)                     (Σ_l U^i_l h_jl)
    f_jk  = σ(x_j W_f^T + r_fk + b_f)                    (Σ_l U^f_kl h_jl: each child's own forget gate)
    g_j   = tanh(x_j W_g^T + r_g + b_g);  o_j = σ(x_j W_o^T + r_o + b_o)
    c_j   = i_j * g_j + Σ_k f_jk * c_jk;  h_j = o_j * tanh(c_j)

With one child per node (a chain) the N-ary cell with N = 1 and the Child-Sum cell are
``rnnkit.LSTMCell``, and the recursive cell with N = 1 is ``rnnkit.SimpleRNNCell``: same
parameter names and shapes, so ``load_state_dict`` moves weights between them.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks
from ..cells import LSTMState
from ..cells.activations import Activation, resolve


class TreeCell(nn.Module):
    """Base of the tree cells: parameters ``weight_ih (G*H, I)``, ``weight_hh (R, K)``, ``bias_ih (G*H)``,
    ``bias_hh`` (and the state layout); see the module docstring for each cell's equations."""

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, hh_shape: tuple[int, int], bias: bool,
                 *, device=None, dtype=None):
        super().__init__()
        self.input_size = _checks.check_size(input_size, "input_size")
        self.hidden_size = _checks.check_size(hidden_size, "hidden_size")
        self.bias = _checks.check_flag(bias, "bias")
        factory = _checks.check_factory(device, dtype)
        gates = self.num_gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, self.input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(*hh_shape, **factory))
        self.bias_ih = nn.Parameter(torch.empty(gates, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(gates, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn's recurrent cells."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters(recurse=False):
            nn.init.uniform_(param, -bound, bound)

    @property
    def state_size(self) -> Any:
        """``H`` (recursive) or ``LSTMState(h=H, c=H)``."""
        return self.hidden_size

    def zero_state(self, *leading: int, like: torch.Tensor) -> Any:
        """A zero state of shape ``(*leading, H)`` per state tensor, on ``like``'s device and dtype."""
        sizes = self.state_size
        if isinstance(sizes, int):
            return like.new_zeros(*leading, sizes)
        return type(sizes)(*(like.new_zeros(*leading, s) for s in sizes))

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x weight_ih^T + bias_ih + bias_hh``: ``(..., I) -> (..., G*H)`` (the biases only ever add up)."""
        return F.linear(x, self.weight_ih, None if self.bias_ih is None else self.bias_ih + self.bias_hh)

    def step(self, x_proj: torch.Tensor, children: Any) -> Any:
        """The state ``(P, .)`` of P nodes from ``x_proj (P, G*H)`` and their children's states ``(P, K, .)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, children: Any = None) -> Any:
        """One batch of nodes. Arguments: ``x (P, I)``; ``children``: states ``(P, K, .)`` (None: no children).

        Returns:
            The nodes' states ``(P, .)``: ``h`` or ``LSTMState(h, c)``.
        """
        batch = _checks.check_step_input(x, self.input_size, self.weight_ih, name="x")
        if children is None:
            children = self.zero_state(batch, 0, like=x)
        return self.step(self.project_input(x), children)

    def _slots(self, h: torch.Tensor, arity: int) -> torch.Tensor:
        """Children ``(P, K, H)`` padded with zero states to ``(P, arity, H)``; more than ``arity`` is an error."""
        width = h.shape[1]
        if width > arity:
            raise ValueError(f"children: a node has {width} children, more than this cell's arity {arity}")
        return F.pad(h, (0, 0, 0, arity - width))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RecursiveCell(TreeCell):
    """Socher's recursive composition ``h_j = f(x_j W_ih^T + b_ih + [h_j1; ..; h_jN] W_hh^T + b_hh)``.

    Arguments:
        input_size: I.  hidden_size: H.  arity: N child slots (2: binary trees).  bias: whether biases exist.
        nonlinearity: f, ``tanh`` (default), ``relu``, ... or a callable.

    Shapes: ``weight_ih (H, I)``, ``weight_hh (H, N*H)``, ``bias_ih (H)``, ``bias_hh (H)``; state ``h (P, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, arity: int = 2, bias: bool = True,
                 nonlinearity: Activation = "tanh", *, device=None, dtype=None):
        self.arity = _checks.check_size(arity, "arity")
        super().__init__(input_size, hidden_size, (hidden_size, self.arity * hidden_size), bias,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._f = resolve(nonlinearity, "nonlinearity")

    def step(self, x_proj: torch.Tensor, children: torch.Tensor) -> torch.Tensor:
        slots = self._slots(children, self.arity).flatten(1)                       # (P, N*H)
        return self._f(x_proj + F.linear(slots, self.weight_hh))                   # (P, H)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, arity={self.arity}, nonlinearity={self.nonlinearity!r}"


class ChildSumTreeLSTMCell(TreeCell):
    """Child-Sum Tree-LSTM (Tai et al. 2015): any number of unordered children, one forget gate each.

    Arguments:
        input_size: I.  hidden_size: H.  bias: whether biases exist.

    Shapes: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, ``bias_ih (4H)``, ``bias_hh (4H)`` (gate blocks
    i, f, g, o as ``rnnkit.LSTMCell``); state ``LSTMState(h (P, H), c (P, H))``.
    """

    num_gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, device=None, dtype=None):
        super().__init__(input_size, hidden_size, (4 * hidden_size, hidden_size), bias, device=device, dtype=dtype)

    @property
    def state_size(self) -> LSTMState:
        return LSTMState(self.hidden_size, self.hidden_size)

    def step(self, x_proj: torch.Tensor, children: LSTMState) -> LSTMState:
        H = self.hidden_size
        h_k, c_k = children                                                        # (P, K, H) each
        rows = torch.cat([self.weight_hh[:H], self.weight_hh[2 * H:]])             # U_i, U_g, U_o (3H, H)
        x_i, x_f, x_g, x_o = x_proj.chunk(4, dim=1)                                # (P, H) each
        r_i, r_g, r_o = F.linear(h_k.sum(1), rows).chunk(3, dim=1)                 # h~ U^T, h~ = Σ_k h_k
        f = torch.sigmoid(x_f[:, None] + F.linear(h_k, self.weight_hh[H:2 * H]))  # (P, K, H)
        i = torch.sigmoid(x_i + r_i)
        g = torch.tanh(x_g + r_g)
        o = torch.sigmoid(x_o + r_o)
        c = i * g + (f * c_k).sum(1)                                               # (P, H)
        return LSTMState(o * torch.tanh(c), c)


class NaryTreeLSTMCell(TreeCell):
    """N-ary Tree-LSTM (Tai et al. 2015): N ordered child slots, each child's forget gate sees all children.

    Arguments:
        input_size: I.  hidden_size: H.  arity: N (2: the binary Tree-LSTM).  bias: whether biases exist.

    Shapes: ``weight_ih (4H, I)`` (blocks i, f, g, o), ``weight_hh ((3+N)H, N*H)`` (row blocks i, f_1..f_N,
    g, o), ``bias_ih (4H)``, ``bias_hh (4H)`` (the forget bias shared by the N forget gates); state
    ``LSTMState(h (P, H), c (P, H))``.
    """

    num_gates = 4

    def __init__(self, input_size: int, hidden_size: int, arity: int = 2, bias: bool = True,
                 *, device=None, dtype=None):
        self.arity = _checks.check_size(arity, "arity")
        super().__init__(input_size, hidden_size, ((3 + self.arity) * hidden_size, self.arity * hidden_size),
                         bias, device=device, dtype=dtype)

    @property
    def state_size(self) -> LSTMState:
        return LSTMState(self.hidden_size, self.hidden_size)

    def step(self, x_proj: torch.Tensor, children: LSTMState) -> LSTMState:
        H, N = self.hidden_size, self.arity
        h_k, c_k = self._slots(children.h, N), self._slots(children.c, N)         # (P, N, H) each
        r = F.linear(h_k.flatten(1), self.weight_hh)                               # (P, (3+N)H)
        r_i, r_f, r_g, r_o = r.split([H, N * H, H, H], dim=1)
        x_i, x_f, x_g, x_o = x_proj.chunk(4, dim=1)
        f = torch.sigmoid(x_f[:, None] + r_f.unflatten(1, (N, H)))                 # (P, N, H)
        i = torch.sigmoid(x_i + r_i)
        g = torch.tanh(x_g + r_g)
        o = torch.sigmoid(x_o + r_o)
        c = i * g + (f * c_k).sum(1)                                               # (P, H)
        return LSTMState(o * torch.tanh(c), c)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, arity={self.arity}"
