"""Recurrence over trees and graphs: recursive NN, Tree-LSTMs, gated graph networks, level-ordered batching.

Trees (:class:`Tree`: parent arrays, PTB bracket strings) run through a tree cell — :class:`RecursiveCell`,
:class:`ChildSumTreeLSTMCell`, :class:`NaryTreeLSTMCell` — either batched by height
(:class:`TreeSchedule` + :func:`tree_forward`: one cell call per level of all trees) or node by node
(:func:`tree_forward_per_node`). Graphs (:class:`Graph`, batched by :class:`GraphBatch`) run through
:class:`GGNNPropagation` (typed messages, GRU update) with a :class:`NodeSelection` or
:class:`GraphLevelOutput` head, or the sequence-output :class:`GGSNN`. The equations are in each
module's docstring and in ``docs/trees-and-graphs.md``.
"""
from .ggnn import GGNNPropagation, GGSNN
from .graphs import Graph, GraphBatch
from .readout import GraphLevelOutput, NodeSelection
from .schedule import TreeSchedule
from .tree_cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell, RecursiveCell, TreeCell
from .tree_rnn import tree_forward, tree_forward_per_node
from .trees import Tree

__all__ = [
    "ChildSumTreeLSTMCell", "GGNNPropagation", "GGSNN", "Graph", "GraphBatch", "GraphLevelOutput", "NaryTreeLSTMCell",
    "NodeSelection", "RecursiveCell", "Tree", "TreeCell", "TreeSchedule", "tree_forward", "tree_forward_per_node",
]
