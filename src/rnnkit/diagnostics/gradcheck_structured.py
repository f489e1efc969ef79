r"""The torch ↔ reference bridge for trees and graphs (what :mod:`.gradcheck` is for chains).

Tree cells: a batch of random trees (random shapes, node numbers shuffled so that children do not
follow their parents) runs in torch — through the batched level schedule (the level kernel with its
hand-derived backward, or the autograd level loop) or node by node — and
in ``reference.trees``, node by node with the hand-derived backward pass, in float64::

    L = Σ_j h_j · G_h[j] + Σ_j c_j · G_c[j]          (random G: every node's state matters)

GGNN: a batch of random graphs through ``GGNNPropagation`` and ``reference.ggnn``, with
``L = Σ_v h^(T)_v · G[v]``. Errors are norm-wise relative, per tensor, as in :mod:`.gradcheck`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..cells.base import state_leaves
from ..reference import ggnn as ref_ggnn
from ..reference import max_relative_error
from ..reference import trees as ref_trees
from ..structured import (ChildSumTreeLSTMCell, GGNNPropagation, Graph, GraphBatch, NaryTreeLSTMCell, RecursiveCell,
                          Tree, TreeSchedule, tree_forward, tree_forward_per_node)

#: ``rnnkit gradcheck --cell`` name -> (reference kind, torch class, the options it takes).
TREE_CELLS = {"tree-lstm": ("child-sum", ChildSumTreeLSTMCell, ("bias",)),
              "nary-tree-lstm": ("nary", NaryTreeLSTMCell, ("bias", "arity")),
              "recursive": ("recursive", RecursiveCell, ("bias", "arity", "nonlinearity"))}
GGNN_OPTIONS = ("bias", "reset_after")
STRUCTURED_CELLS = (*TREE_CELLS, "ggnn")
TREE_PATHS = ("schedule", "level-loop", "per-node")


def accepted_options(cell: str) -> tuple[str, ...]:
    """The options ``cell`` (a :data:`STRUCTURED_CELLS` name) takes."""
    return GGNN_OPTIONS if cell == "ggnn" else TREE_CELLS[cell][2]


def random_parents(rng: np.random.Generator, n: int, max_children: int) -> list[int]:
    """A random tree of n nodes with at most ``max_children`` children per node, nodes numbered at random."""
    parents, count = [-1], [0]
    for j in range(1, n):
        free = [i for i in range(j) if count[i] < max_children]
        parent = int(rng.choice(free))
        parents.append(parent)
        count[parent] += 1
        count.append(0)
    perm = rng.permutation(n)                                         # node j gets the number perm[j]
    shuffled = [0] * n
    for j, p in enumerate(parents):
        shuffled[perm[j]] = -1 if p < 0 else int(perm[p])
    return shuffled


def check_tree_against_reference(cell: str, *, input_size: int = 3, hidden_size: int = 4, trees: int = 3,
                                  max_nodes: int = 9, path: str = "schedule", seed: int = 0,
                                  **options: Any) -> dict[str, float]:
    """Runs a batch of random trees through a torch tree cell and through the NumPy reference.

    Arguments:
        cell: ``tree-lstm``, ``nary-tree-lstm`` or ``recursive``.  trees: how many; each has 1 .. max_nodes
            nodes (the first a single node, the second a chain).  path: ``schedule`` (batched by level:
            ``tree_forward``), ``level-loop`` (the same through autograd: ``kernel=False``) or ``per-node``
            (one cell call per node).  options: the cell's (``bias``, ``arity``, ``nonlinearity``).
    Returns:
        name -> max relative error: ``h``, ``c`` (LSTM cells), every parameter, ``x``.
    """
    kind, cls, accepted = TREE_CELLS[cell]
    _check_options(cell, options, accepted)
    if path not in TREE_PATHS:
        raise ValueError(f"path: expected one of {TREE_PATHS}, got {path!r}")
    rng = np.random.default_rng(seed)
    arity = options.get("arity", 2)
    bias = options.get("bias", True)
    params = ref_trees.init_params(kind, input_size, hidden_size, arity=arity, bias=bias, rng=rng)
    widest = 4 if kind == "child-sum" else arity
    shapes = [[-1], Tree.chain(max_nodes).parents] + [random_parents(rng, int(rng.integers(2, max_nodes + 1)), widest)
                                                      for _ in range(trees - 2)]
    batch = [Tree(p) for p in shapes[:trees]]
    n = sum(len(t) for t in batch)
    x_np = rng.standard_normal((n, input_size))
    g_h, g_c = rng.standard_normal((n, hidden_size)), rng.standard_normal((n, hidden_size))

    module = cls(input_size, hidden_size, **options).double()
    _load(module, params)
    x = torch.tensor(x_np, requires_grad=True)
    if path == "per-node":
        states = tree_forward_per_node(module, x, batch)
    else:
        states = tree_forward(module, x, TreeSchedule.build(batch), kernel=path == "schedule")
    leaves = state_leaves(states)
    loss = (leaves[0] * torch.from_numpy(g_h)).sum()
    if len(leaves) > 1:
        loss = loss + (leaves[1] * torch.from_numpy(g_c)).sum()
    loss.backward()

    h_ref, c_ref, grads = [], [], {name: 0.0 for name in params}
    dx, offset = [], 0
    ref_options = {k: v for k, v in options.items() if k in ("arity", "nonlinearity")}
    for tree in batch:
        rows = slice(offset, offset + len(tree))
        h, c, cache = ref_trees.forward(kind, params, tree.parents, x_np[rows], **ref_options)
        tree_grads = ref_trees.backward(cache, g_h[rows], None if c is None else g_c[rows])
        h_ref.append(h)
        c_ref.append(c)
        dx.append(tree_grads.pop("x"))
        grads = {name: grads[name] + tree_grads[name] for name in params}
        offset += len(tree)
    errors = {"h": max_relative_error(leaves[0].detach().numpy(), np.concatenate(h_ref))}
    if len(leaves) > 1:
        errors["c"] = max_relative_error(leaves[1].detach().numpy(), np.concatenate(c_ref))
    errors.update(_parameter_errors(module, grads))
    errors["x"] = max_relative_error(x.grad.numpy(), np.concatenate(dx))
    return errors


def check_ggnn_against_reference(*, state_size: int = 5, annotation_size: int = 2, edge_types: int = 3,
                                 steps: int = 3, graphs: int = 3, seed: int = 0, **options: Any) -> dict[str, float]:
    """Runs a batch of random graphs through ``GGNNPropagation`` and the NumPy reference.

    Arguments:
        options: ``bias``, ``reset_after``.
    Returns:
        name -> max relative error: ``h`` (the final states), every parameter, ``annotation``.
    """
    _check_options("ggnn", options, GGNN_OPTIONS)
    rng = np.random.default_rng(seed)
    params = ref_ggnn.init_params(state_size, edge_types, rng=rng, **options)
    batch = []
    for _ in range(graphs):
        n = int(rng.integers(2, 7))
        edges = np.stack([rng.integers(0, n, 2 * n), rng.integers(0, edge_types, 2 * n), rng.integers(0, n, 2 * n)], 1)
        batch.append(Graph(n, edges))
    total = sum(g.num_nodes for g in batch)
    x_np = rng.standard_normal((total, annotation_size))
    g_h = rng.standard_normal((total, state_size))

    module = GGNNPropagation(state_size, edge_types, steps, **options).double()
    _load(module, params)
    x = torch.tensor(x_np, requires_grad=True)
    h = module(x, GraphBatch.build(batch))
    (h * torch.from_numpy(g_h)).sum().backward()

    h_ref, dx, grads, offset = [], [], {name: 0.0 for name in params}, 0
    for graph in batch:
        rows = slice(offset, offset + graph.num_nodes)
        h_g, cache = ref_ggnn.forward(params, x_np[rows], graph.edges, steps=steps,
                                      reset_after=options.get("reset_after", False))
        graph_grads = ref_ggnn.backward(cache, g_h[rows])
        h_ref.append(h_g)
        dx.append(graph_grads.pop("annotation"))
        grads = {name: grads[name] + graph_grads[name] for name in params}
        offset += graph.num_nodes
    errors = {"h": max_relative_error(h.detach().numpy(), np.concatenate(h_ref))}
    errors.update(_parameter_errors(module, grads))
    errors["annotation"] = max_relative_error(x.grad.numpy(), np.concatenate(dx))
    return errors


def _check_options(cell: str, options: dict, accepted: tuple[str, ...]) -> None:
    foreign = sorted(set(options) - set(accepted))
    if foreign:
        raise ValueError(f"--cell {cell} does not take {', '.join(foreign)}")


def _load(module: torch.nn.Module, params: dict[str, np.ndarray]) -> None:
    """Copies the reference parameters into ``module`` (the same names), refusing a mismatch."""
    named = dict(module.named_parameters())
    if set(named) != set(params):
        raise ValueError(f"parameters: torch creates {sorted(named)}, the reference {sorted(params)}")
    with torch.no_grad():
        for name, param in named.items():
            param.copy_(torch.from_numpy(params[name]))


def _parameter_errors(module: torch.nn.Module, grads: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: max_relative_error(param.grad.numpy(), grads[name]) for name, param in module.named_parameters()}
