r"""Running a tree cell over whole trees: the batched level schedule, and the per-node recursion.

Both compute, for every node j of every tree, bottom-up::

    state_j = cell(x_j, [state_jk for the children k of j])

:func:`tree_forward` runs one cell call per level of a :class:`~rnnkit.structured.schedule.TreeSchedule`
(all nodes of one height, from all trees); the states live in one buffer ``(N + 1, H)`` per state
tensor whose last row stays zero (the empty child slots point at it). :func:`tree_forward_per_node`
calls the cell once per node, children first, as a plain recursion would: the same numbers (a test
holds them equal) at one cell call per node.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .. import _checks
from ..cells.base import map_state
from .schedule import TreeSchedule
from .tree_cells import TreeCell
from .trees import Tree


def tree_forward(cell: TreeCell, x: torch.Tensor, schedule: TreeSchedule) -> Any:
    """Every node's state, level by level.

    Arguments:
        cell: a tree cell.  x: ``(N, I)`` the input of every node (zeros where a node has none).
        schedule: the trees' level schedule (on ``x``'s device).
    Returns:
        The states of all N nodes, ``(N, H)`` or ``LSTMState(h (N, H), c (N, H))``, in global node order.
    """
    _check_inputs(cell, x, schedule.num_nodes)
    n = schedule.num_nodes
    x_proj = cell.project_input(x)                                                 # (N, G*H), one GEMM
    buffers = cell.zero_state(n + 1, like=x_proj)                                  # row N: the empty slot
    for nodes, children in zip(schedule.nodes, schedule.children):
        child_states = map_state(lambda buffer: buffer[children], buffers)        # (P, K, H)
        states = cell.step(x_proj[nodes], child_states)                            # (P, H)
        map_state(lambda buffer, s: buffer.index_copy_(0, nodes, s), buffers, states)
    return map_state(lambda buffer: buffer[:n], buffers)


def tree_forward_per_node(cell: TreeCell, x: torch.Tensor, trees: Sequence[Tree]) -> Any:
    """Every node's state by recursion: one cell call per node, children first (the slow reference path).

    Arguments:
        cell: a tree cell.  x: ``(N, I)`` inputs in global node order (tree after tree).
        trees: the trees, in the order of ``x``.
    Returns:
        As :func:`tree_forward`.
    """
    _check_inputs(cell, x, sum(len(t) for t in trees))
    states: list[Any] = [None] * x.shape[0]
    offset = 0
    for tree in trees:
        for j in tree.order.tolist():
            kids = [states[offset + k] for k in tree.children[j]]
            children = (map_state(lambda *s: torch.stack(s, 1), *kids) if kids      # (1, K, H)
                        else cell.zero_state(1, 0, like=x))
            states[offset + j] = cell.step(cell.project_input(x[offset + j:offset + j + 1]), children)  # (1, H)
        offset += len(tree)
    return map_state(lambda *s: torch.cat(s), *states)


def _check_inputs(cell: TreeCell, x: torch.Tensor, num_nodes: int) -> None:
    _checks.check_step_input(x, cell.input_size, cell.weight_ih, name="x")
    if x.shape[0] != num_nodes:
        raise ValueError(f"x: expected one row per node ({num_nodes}), got {x.shape[0]}")
