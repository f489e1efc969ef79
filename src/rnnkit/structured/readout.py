r"""Outputs of a gated graph network (Li et al. 2016, section 3.3): per-node and per-graph.

Node selection: a score per node, a softmax over the nodes of each graph::

    s_v = tanh([h_v; x_v] W_1^T + b_1) w_2^T + b_2            p(answer = v) = softmax_{v ∈ G}(s_v)

Graph level, a soft attention over nodes (i decides which nodes matter, j what they say)::

    h_G = tanh(Σ_{v ∈ G} σ([h_v; x_v] W_i^T + b_i) * tanh([h_v; x_v] W_j^T + b_j))   (B, D)
    scores = h_G W_o^T + b_o                                                          (B, C)
"""
from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from .graphs import GraphBatch


class NodeSelection(nn.Module):
    """Scores of every node as the answer, laid out per graph.

    Arguments:
        state_size: D.  annotation_size: A.

    Parameters: ``hidden.weight (D, D+A)``, ``hidden.bias (D)``, ``score.weight (1, D)``, ``score.bias (1)``.
    """

    def __init__(self, state_size: int, annotation_size: int):
        super().__init__()
        D = _checks.check_size(state_size, "state_size")
        self.hidden = nn.Linear(D + _checks.check_size(annotation_size, "annotation_size"), D)
        self.score = nn.Linear(D, 1)

    def forward(self, h: torch.Tensor, x: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """Scores ``(B, max n)``: ``s_v`` at each graph's nodes, ``-inf`` beyond them."""
        s = self.score(torch.tanh(self.hidden(torch.cat([h, x], 1)))).squeeze(1)   # (N,)
        return batch.per_graph(s, float("-inf"))


class GraphLevelOutput(nn.Module):
    """Class scores of each graph from the gated sum of its nodes.

    Arguments:
        state_size: D.  annotation_size: A.  classes: C.

    Parameters: ``gate.* (D, D+A)``, ``value.* (D, D+A)``, ``output.* (C, D)``.
    """

    def __init__(self, state_size: int, annotation_size: int, classes: int):
        super().__init__()
        D = _checks.check_size(state_size, "state_size")
        width = D + _checks.check_size(annotation_size, "annotation_size")
        self.gate = nn.Linear(width, D)
        self.value = nn.Linear(width, D)
        self.output = nn.Linear(D, _checks.check_size(classes, "classes"))

    def forward(self, h: torch.Tensor, x: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """Scores ``(B, C)``."""
        hx = torch.cat([h, x], 1)                                                   # (N, D+A)
        weighted = torch.sigmoid(self.gate(hx)) * torch.tanh(self.value(hx))       # (N, D)
        pooled = weighted.new_zeros(batch.num_graphs, weighted.shape[1]).index_add(0, batch.graph_index, weighted)
        return self.output(torch.tanh(pooled))                                     # (B, C)

