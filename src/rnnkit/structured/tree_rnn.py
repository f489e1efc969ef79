r"""Running a tree cell over whole trees: the batched level schedule, and the per-node recursion.

Both compute, for every node j of every tree, bottom-up::

    state_j = cell(x_j, [state_jk for the children k of j])

:func:`tree_forward` runs one cell call per level of a :class:`~rnnkit.structured.schedule.TreeSchedule`
(all nodes of one height, from all trees); the states live in one buffer ``(N + 1, H)`` per state
tensor whose last row stays zero (the empty child slots point at it). The built-in cells run the
levels in :mod:`~rnnkit.structured.tree_kernel` (hand-derived backward), others through autograd. :func:`tree_forward_per_node`
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
from .tree_kernel import kernel_spec, run_tree_kernel
from .trees import Tree


def tree_forward(cell: TreeCell, x: torch.Tensor, schedule: TreeSchedule, nodes: torch.Tensor | None = None, *,
                 kernel: bool = True) -> Any:
    """Every node's state, level by level.

    Arguments:
        cell: a tree cell.  schedule: the trees' level schedule (on ``x``'s device).
        x: ``(N, I)`` the input of every node; or, with ``nodes``, ``(M, I)`` the inputs of those nodes
            only (the others take x = 0: the inner constituents of a parse tree).
        nodes: ``(M,)`` global node indices of the rows of ``x``, or None.
        kernel: run the built-in cells through the level kernel with the hand-derived backward
            (:mod:`rnnkit.structured.tree_kernel`); False, or a cell it does not cover: the autograd
            level loop over ``cell.step`` (double derivatives need it).
    Returns:
        The states of all N nodes, ``(N, H)`` or ``LSTMState(h (N, H), c (N, H))``, in global node order.
    """
    n = schedule.num_nodes
    _check_inputs(cell, x, n if nodes is None else len(nodes))
    x_proj = cell.project_input(x)                                                 # (N or M, G*H), one GEMM
    if nodes is not None:                                                          # x = 0 elsewhere: biases only
        x_proj = cell.project_input(x.new_zeros(1, x.shape[1])).repeat(n, 1).index_copy(0, nodes, x_proj)
    spec = kernel_spec(cell) if kernel else None
    if spec is not None:
        return run_tree_kernel(spec, x_proj, cell.weight_hh, list(zip(schedule.nodes, schedule.children)))
    buffers = cell.zero_state(n + 1, like=x_proj)                                  # row N: the empty slot
    for level_nodes, children in zip(schedule.nodes, schedule.children):
        child_states = map_state(lambda buffer: buffer[children], buffers)        # (P, K, H)
        states = cell.step(x_proj[level_nodes], child_states)                      # (P, H)
        map_state(lambda buffer, s: buffer.index_copy_(0, level_nodes, s), buffers, states)
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
