r"""Annotated graphs as batches: the graphs, their node annotations and their targets.

A :class:`GraphExample` is a graph, the marked entries of its annotation matrix (``x_v[column] = 1``;
e.g. the nodes a question is about) and a target: node ids, class ids or a sequence of class ids.
A batch numbers the nodes globally (:class:`~rnnkit.structured.GraphBatch`) and holds the dense
annotations ``(N, A)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from ..structured.graphs import Graph, GraphBatch
from .sequences import BucketBatches


@dataclass(frozen=True)
class GraphExample:
    """``marks``: ``(node, column)`` pairs set to 1 in the annotations; ``target``: ids (or None to predict)."""

    graph: Graph
    marks: tuple[tuple[int, int], ...]
    target: tuple[int, ...] | None = None


@dataclass
class AnnotatedGraphs:
    """Graphs as one batch: ``graphs`` (N nodes), ``annotation (N, A)``, ``targets (B, K)`` or None."""

    graphs: GraphBatch
    annotation: torch.Tensor
    targets: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "AnnotatedGraphs":
        return AnnotatedGraphs(self.graphs.to(device), self.annotation.to(device, non_blocking=True),
                               None if self.targets is None else self.targets.to(device, non_blocking=True))


def collate_graphs(examples: Sequence[GraphExample], annotation_size: int) -> AnnotatedGraphs:
    """One batch; ``annotation_size`` is A (every mark's column must be below it)."""
    graphs = GraphBatch.build([e.graph for e in examples])
    annotation = torch.zeros(graphs.num_nodes, annotation_size)
    offsets = graphs.offsets.tolist()
    for example, offset in zip(examples, offsets):
        for node, column in example.marks:
            annotation[offset + node, column] = 1.0
    targets = None
    if examples[0].target is not None:
        targets = torch.tensor([e.target for e in examples], dtype=torch.long)        # (B, K)
    return AnnotatedGraphs(graphs, annotation, targets)


class GraphBatches(BucketBatches):
    """Re-iterable batches of annotated graphs, similar sizes together (``BucketBatches`` with the
    number of nodes as the size).

    Arguments:
        examples: the graphs.  annotation_size: A.  batch_size: B.  shuffle: as ``BucketBatches``.
    """

    def __init__(self, examples: Sequence[GraphExample], annotation_size: int, batch_size: int,
                 shuffle: bool = True):
        super().__init__(examples, batch_size, shuffle)
        self.annotation_size = annotation_size

    def __iter__(self) -> Iterator[AnnotatedGraphs]:
        for indices in self.batch_indices():
            yield collate_graphs([self.examples[i] for i in indices], self.annotation_size)

    def size(self, i: int) -> int:
        """The nodes of graph ``i``."""
        return self.examples[i].graph.num_nodes
