r"""Graphs with typed, directed edges, and many graphs as one batch for the propagation.

A graph has n nodes ``0 .. n-1`` and edges ``(source, type, target)``: in bAbI's ``A is B`` the edge
runs from A to B with the type ``is``. A batch numbers the nodes of B graphs globally (graph b's
node v is ``offsets[b] + v``) and concatenates the edge lists, so that one propagation step of
every graph is one gather, one matrix product and one scatter-add over all edges at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class Graph:
    """One graph.

    Arguments:
        num_nodes: n (at least 1).
        edges: ``(E, 3)`` rows ``(source, type, target)``: nodes in ``[0, n)``, types ``>= 0``.
    """

    num_nodes: int
    edges: np.ndarray = field(compare=False)

    def __post_init__(self):
        n = self.num_nodes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"num_nodes: expected a positive integer, got {n!r}")
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 3) if len(self.edges) else \
            np.zeros((0, 3), dtype=np.int64)
        nodes = edges[:, [0, 2]]
        if len(edges) and (nodes.min() < 0 or nodes.max() >= n or edges[:, 1].min() < 0):
            row = int(np.flatnonzero((nodes < 0).any(1) | (nodes >= n).any(1) | (edges[:, 1] < 0))[0])
            raise ValueError(f"edges: edge {row} {tuple(edges[row].tolist())} has a node outside [0, {n}) "
                             "or a negative type")
        object.__setattr__(self, "num_nodes", int(n))
        object.__setattr__(self, "edges", edges)

    @property
    def num_edge_types(self) -> int:
        """1 + the largest edge type (0 without edges)."""
        return int(self.edges[:, 1].max()) + 1 if len(self.edges) else 0


@dataclass(frozen=True)
class GraphBatch:
    """B graphs as one (module docstring).

    Attributes:
        num_nodes: N, all graphs' nodes.  sizes: ``(B,)`` nodes per graph.  offsets: ``(B,)`` first global node.
        source, edge_type, target: ``(E,)`` the concatenated edges in global node numbers.
        graph_index: ``(N,)`` the graph of each node.  position: ``(N,)`` each node's number in its graph.
    """

    num_nodes: int
    sizes: torch.Tensor
    offsets: torch.Tensor
    source: torch.Tensor
    edge_type: torch.Tensor
    target: torch.Tensor
    graph_index: torch.Tensor
    position: torch.Tensor

    @classmethod
    def build(cls, graphs: Sequence[Graph]) -> "GraphBatch":
        if not graphs:
            raise ValueError("graphs: expected at least one graph, got none")
        sizes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        edges = np.concatenate([g.edges + np.array([o, 0, o]) for g, o in zip(graphs, offsets)])   # (E, 3)
        graph_index = np.repeat(np.arange(len(graphs)), sizes)
        position = np.arange(int(sizes.sum())) - offsets[graph_index]
        tensor = torch.from_numpy
        return cls(int(sizes.sum()), tensor(sizes), tensor(offsets), tensor(edges[:, 0].copy()),
                   tensor(edges[:, 1].copy()), tensor(edges[:, 2].copy()), tensor(graph_index), tensor(position))

    @property
    def num_graphs(self) -> int:
        return len(self.sizes)

    def to(self, device: torch.device | str) -> "GraphBatch":
        return GraphBatch(self.num_nodes, *(t.to(device, non_blocking=True) for t in (
            self.sizes, self.offsets, self.source, self.edge_type, self.target, self.graph_index, self.position)))

    def per_graph(self, values: torch.Tensor, fill: float) -> torch.Tensor:
        """Node values ``(N,)`` laid out per graph, ``(B, max n)``, ``fill`` beyond each graph's nodes."""
        out = values.new_full((self.num_graphs, int(self.sizes.max())), fill)
        return out.index_put((self.graph_index, self.position), values)
