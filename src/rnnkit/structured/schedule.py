r"""Many trees as one level-ordered schedule: every node of one height is one batched cell call.

The nodes of B trees are numbered globally (tree b's node j is ``offsets[b] + j``, N in all). Level
ℓ holds every node of height ℓ, from all trees at once; its children all sit on lower levels, so
running the levels in order computes each node after its children::

    level 0:  the leaves of every tree                       one cell call for all of them
    level ℓ:  nodes[ℓ] (P_ℓ,)  children[ℓ] (P_ℓ, K_ℓ)          one cell call: x[nodes], state[children]

``children[ℓ][p, k]`` is the global index of the k-th child of the level's p-th node, or N — the
index of an extra all-zero state row — where the node has fewer than ``K_ℓ`` (the level's most)
children. A tree of depth D costs D + 1 cell calls however many trees share the schedule, instead
of one call per node.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .trees import Tree


@dataclass(frozen=True)
class TreeSchedule:
    """The level-ordered schedule of a batch of trees (module docstring).

    Attributes:
        num_nodes: N, the nodes of all trees.
        nodes: per level ℓ, the global indices ``(P_ℓ,)`` of its nodes.
        children: per level ℓ, ``(P_ℓ, K_ℓ)`` global child indices, N where a slot is empty.
        roots: ``(B,)`` the global index of each tree's root.
        offsets: ``(B,)`` the global index of each tree's node 0.
        tree_index: ``(N,)`` the tree each node belongs to.
    """

    num_nodes: int
    nodes: tuple[torch.Tensor, ...]
    children: tuple[torch.Tensor, ...]
    roots: torch.Tensor
    offsets: torch.Tensor
    tree_index: torch.Tensor

    @classmethod
    def build(cls, trees: Sequence[Tree]) -> "TreeSchedule":
        """The schedule of ``trees`` (at least one)."""
        if not trees:
            raise ValueError("trees: expected at least one tree, got none")
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        n = int(sizes.sum())
        parents = np.concatenate([np.where(np.array(t.parents) >= 0, np.array(t.parents) + o, -1)
                                  for t, o in zip(trees, offsets)])                # (N,)
        heights = np.concatenate([t.heights for t in trees])                          # (N,)
        ranks = np.concatenate([t.ranks for t in trees])                              # (N,)
        position = np.zeros(n, dtype=np.int64)
        nodes, children = [], []
        for level in range(int(heights.max()) + 1):
            members = np.flatnonzero(heights == level)                              # (P,)
            position[members] = np.arange(len(members))
            kids = np.flatnonzero((parents >= 0) & (heights[np.maximum(parents, 0)] == level))   # their children
            width = int(ranks[kids].max()) + 1 if len(kids) else 0
            slots = np.full((len(members), width), n, dtype=np.int64)               # (P, K)
            slots[position[parents[kids]], ranks[kids]] = kids
            nodes.append(torch.from_numpy(members))
            children.append(torch.from_numpy(slots))
        roots = torch.from_numpy(offsets + np.array([t.root for t in trees]))
        tree_index = torch.from_numpy(np.repeat(np.arange(len(trees)), sizes))
        return cls(n, tuple(nodes), tuple(children), roots, torch.from_numpy(offsets), tree_index)

    @property
    def num_levels(self) -> int:
        return len(self.nodes)

    def to(self, device: torch.device | str) -> "TreeSchedule":
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)
        return TreeSchedule(self.num_nodes, tuple(map(move, self.nodes)), tuple(map(move, self.children)),
                            move(self.roots), move(self.offsets), move(self.tree_index))
