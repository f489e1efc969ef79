r"""Encoded trees as batches: one level schedule per batch, the token ids of the nodes that have words.

A :class:`TreeExample` is a tree with the vocabulary ids of its words (at the nodes that have one,
the leaves of a parse tree) and a label per node (``-1``: none, e.g. a neutral phrase of binary
sentiment). A :class:`TreeBatch` numbers the nodes of its trees globally as
:class:`~rnnkit.structured.TreeSchedule` does; :class:`TreeBatches` groups trees of similar height.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from ..structured.schedule import TreeSchedule
from ..structured.trees import Tree
from .sequences import BucketBatches


@dataclass(frozen=True)
class TreeExample:
    """One encoded tree: ``token_nodes`` (the nodes with a word), ``token_ids`` (their ids),
    ``labels`` (one per node, -1 where none; or None to predict)."""

    tree: Tree
    token_nodes: tuple[int, ...]
    token_ids: tuple[int, ...]
    labels: tuple[int, ...] | None = None


@dataclass
class TreeBatch:
    """Trees as one batch.

    Attributes:
        schedule: the level schedule (N nodes).  token_nodes: ``(M,)`` global nodes with a word.
        tokens: ``(M,)`` their ids.  labels: ``(N,)`` class per node, -1 where none; or None.
    """

    schedule: TreeSchedule
    token_nodes: torch.Tensor
    tokens: torch.Tensor
    labels: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "TreeBatch":
        move = (lambda t: None if t is None else t.to(device, non_blocking=True))
        return TreeBatch(self.schedule.to(device), move(self.token_nodes), move(self.tokens), move(self.labels))


def collate_trees(examples: Sequence[TreeExample]) -> TreeBatch:
    """One :class:`TreeBatch` of ``examples`` (every one with labels, or none)."""
    schedule = TreeSchedule.build([e.tree for e in examples])
    offsets = schedule.offsets.tolist()
    nodes = [o + j for e, o in zip(examples, offsets) for j in e.token_nodes]
    ids = [i for e in examples for i in e.token_ids]
    labels = None
    if examples[0].labels is not None:
        labels = torch.tensor([label for e in examples for label in e.labels], dtype=torch.long)
    return TreeBatch(schedule, torch.tensor(nodes, dtype=torch.long), torch.tensor(ids, dtype=torch.long), labels)


class TreeBatches(BucketBatches):
    """Re-iterable batches of trees, similar heights together (:class:`~rnnkit.data.sequences.BucketBatches`
    with the tree's height as the size: a batch costs one cell call per level of its tallest tree).

    Arguments:
        examples: the encoded trees.  batch_size: B.  shuffle: as ``BucketBatches``.
    """

    def __init__(self, examples: Sequence[TreeExample], batch_size: int, shuffle: bool = True):
        super().__init__(examples, batch_size, shuffle)
        self._heights = [int(e.tree.heights.max()) for e in self.examples]

    def __iter__(self) -> Iterator[TreeBatch]:
        for indices in self.batch_indices():
            yield collate_trees([self.examples[i] for i in indices])

    def size(self, i: int) -> int:
        """The height of tree ``i``."""
        return self._heights[i]
