r"""Gated graph neural networks (Li, Tarlow, Brockschmidt & Zemel 2016): GRU updates along typed edges.

Propagation over T steps, D the state size, x_v the node annotation (A <= D values)::

    h_v^(0) = [x_v; 0]                                                       (N, D)
    a_v^(t) = Σ_{(u,e,v) ∈ E} (h_u^(t-1) W_e^T + b_e)                         messages along each edge
            + Σ_{(v,e,u) ∈ E} (h_u^(t-1) W'_e^T + b'_e)                       and against it (own weights)
    h_v^(t) = GRU(a_v^(t), h_v^(t-1))                                         rnnkit.GRUCell(D, D)

``weight_in (T_e, D, D)`` / ``bias_in (T_e, D)`` are W_e / b_e of the T_e edge types along the edge,
``weight_out`` / ``bias_out`` the W'_e / b'_e against it. The GRU is :class:`rnnkit.GRUCell` with the
reset gate before the recurrent product by default (``reset_after=False``, Cho et al. 2014, the form
Li et al. write; its ``h = (1 - z) n + z h_prev`` names the update gate the other way round).

Sequence outputs (GGS-NN): K steps, each propagating from the current annotations X^(k)::

    H^(k)   = propagate(X^(k))                  o^(k) = graph-level output of (H^(k), X^(k))
    x_v^(k+1) = σ([h_v^(k); x_v^(k)] W_X^T + b_X)                             the next annotations (N, A)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks
from ..cells import GRUCell
from .graphs import GraphBatch
from .readout import GraphLevelOutput


class GGNNPropagation(nn.Module):
    """T steps of message passing with a GRU update (module docstring).

    Arguments:
        state_size: D.  edge_types: T_e.  steps: T propagation steps.
        bias: message biases and GRU biases.  reset_after: the GRU's reset placement.

    Parameters: ``weight_in (T_e, D, D)``, ``bias_in (T_e, D)``, ``weight_out (T_e, D, D)``,
    ``bias_out (T_e, D)``, ``gru.*`` (``rnnkit.GRUCell(D, D)``).
    """

    def __init__(self, state_size: int, edge_types: int, steps: int = 5, bias: bool = True,
                 reset_after: bool = False, *, device=None, dtype=None):
        super().__init__()
        self.state_size = _checks.check_size(state_size, "state_size")
        self.edge_types = _checks.check_size(edge_types, "edge_types")
        self.steps = _checks.check_size(steps, "steps")
        factory = _checks.check_factory(device, dtype)
        D, T = self.state_size, self.edge_types
        self.weight_in = nn.Parameter(torch.empty(T, D, D, **factory))
        self.weight_out = nn.Parameter(torch.empty(T, D, D, **factory))
        self.bias_in = nn.Parameter(torch.empty(T, D, **factory)) if bias else None
        self.bias_out = nn.Parameter(torch.empty(T, D, **factory)) if bias else None
        self.gru = GRUCell(D, D, bias=bias, reset_after=reset_after, **factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Message weights and biases ~ U(-1/sqrt(D), 1/sqrt(D)); the GRU as rnnkit.GRUCell."""
        bound = 1.0 / math.sqrt(self.state_size)
        for param in self.parameters(recurse=False):
            nn.init.uniform_(param, -bound, bound)
        self.gru.reset_parameters()

    def messages(self, h: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """``a (N, D)``: every node's summed messages along and against its edges."""
        N, D, T = h.shape[0], self.state_size, self.edge_types
        along = F.linear(h, self.weight_in.reshape(T * D, D)).view(N, T, D)      # h_u W_e^T for every e
        against = F.linear(h, self.weight_out.reshape(T * D, D)).view(N, T, D)
        m_in = along[batch.source, batch.edge_type]                                # (E, D) u -> v
        m_out = against[batch.target, batch.edge_type]                             # (E, D) v <- u
        if self.bias_in is not None:
            m_in = m_in + self.bias_in[batch.edge_type]
            m_out = m_out + self.bias_out[batch.edge_type]
        return h.new_zeros(N, D).index_add(0, batch.target, m_in).index_add(0, batch.source, m_out)

    def forward(self, annotation: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """The final states ``h^(T) (N, D)`` from the annotations ``x (N, A)``, A <= D."""
        if annotation.dim() != 2 or annotation.shape[0] != batch.num_nodes or annotation.shape[1] > self.state_size:
            raise ValueError(f"annotation: expected shape ({batch.num_nodes}, A) with A <= {self.state_size}, "
                             f"got {tuple(annotation.shape)}")
        if batch.num_nodes and len(batch.edge_type) and int(batch.edge_type.max()) >= self.edge_types:
            raise ValueError(f"batch: an edge of type {int(batch.edge_type.max())}, but the propagation knows "
                             f"{self.edge_types} edge types")
        h = F.pad(annotation, (0, self.state_size - annotation.shape[1]))              # h^(0) = [x; 0]
        for _ in range(self.steps):
            h = self.gru(self.messages(h, batch), h)[1]                                # (N, D)
        return h


class GGSNN(nn.Module):
    """Gated graph sequence network: K graph-level outputs, the annotations recomputed between them.

    Arguments:
        annotation_size: A.  state_size: D >= A.  edge_types: T_e.  classes: C outputs per step.
        output_steps: K.  steps: propagation steps per output.  reset_after: the GRU's reset placement.

    Parameters: ``propagation.*``, ``output.*`` (:class:`GraphLevelOutput`), ``annotate.weight (A, D+A)``,
    ``annotate.bias (A)``.
    """

    def __init__(self, annotation_size: int, state_size: int, edge_types: int, classes: int, output_steps: int,
                 steps: int = 5, reset_after: bool = False):
        super().__init__()
        self.output_steps = _checks.check_size(output_steps, "output_steps")
        self.propagation = GGNNPropagation(state_size, edge_types, steps, reset_after=reset_after)
        self.output = GraphLevelOutput(state_size, annotation_size, classes)
        self.annotate = nn.Linear(state_size + annotation_size, annotation_size)

    def forward(self, annotation: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """Class scores ``(B, K, C)`` of each output step, from the first annotations ``(N, A)``."""
        scores, x = [], annotation
        for _ in range(self.output_steps):
            h = self.propagation(x, batch)                                          # (N, D)
            scores.append(self.output(h, x, batch))                                 # (B, C)
            x = torch.sigmoid(self.annotate(torch.cat([h, x], 1)))                  # X^(k+1) (N, A)
        return torch.stack(scores, 1)
