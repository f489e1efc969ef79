"""The level schedule and the tree cells: layout by hand, batched = per node, chains = the chain cells."""
from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells.base import state_leaves
from rnnkit.diagnostics.gradcheck_structured import random_parents
from rnnkit.structured import (ChildSumTreeLSTMCell, NaryTreeLSTMCell, RecursiveCell, Tree, TreeSchedule, tree_forward,
                               tree_forward_per_node)

CELLS = {
    "recursive": lambda: RecursiveCell(3, 4, arity=3),
    "child-sum": lambda: ChildSumTreeLSTMCell(3, 4),
    "nary": lambda: NaryTreeLSTMCell(3, 4, arity=3),
}


def test_schedule_of_two_trees_by_hand():
    a = Tree.from_brackets("(1 (1 x) (1 (1 y) (1 z)))")        # 0: root, 1: x, 2: inner, 3: y, 4: z
    b = Tree([-1, 0])                                          # 5: root, 6: its only child
    s = TreeSchedule.build([a, b])
    assert s.num_nodes == 7 and s.num_levels == 3
    assert [n.tolist() for n in s.nodes] == [[1, 3, 4, 6], [2, 5], [0]]
    assert [c.tolist() for c in s.children] == [[[], [], [], []], [[3, 4], [6, 7]], [[1, 2]]]   # 7: the zero row
    assert s.roots.tolist() == [0, 5] and s.offsets.tolist() == [0, 5]
    assert s.tree_index.tolist() == [0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="at least one tree"):
        TreeSchedule.build([])


def _trees(seed: int, count: int = 6, widest: int = 3) -> list[Tree]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [Tree([-1]), Tree.chain(7)] + [Tree(random_parents(rng, int(rng.integers(2, 15)), widest))
                                          for _ in range(count - 2)]


@pytest.mark.parametrize("name", sorted(CELLS))
def test_batched_schedule_equals_the_per_node_recursion(name):
    cell = CELLS[name]().double()
    trees = _trees(seed=1)
    n = sum(len(t) for t in trees)
    x = torch.randn(n, 3, dtype=torch.double, requires_grad=True)
    weights = [torch.randn(n, 4, dtype=torch.double) for _ in range(2)]

    def run(forward, argument):
        states = state_leaves(forward(cell, x, argument))
        loss = sum((s * w).sum() for s, w in zip(states, weights))
        return states, torch.autograd.grad(loss, [x, *cell.parameters()])

    batched, batched_grads = run(tree_forward, TreeSchedule.build(trees))
    per_node, per_node_grads = run(tree_forward_per_node, trees)
    for a, b in zip(batched + list(batched_grads), per_node + list(per_node_grads)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_batch_equals_each_tree_alone(name):
    cell = CELLS[name]()
    trees = _trees(seed=2)
    x = torch.randn(sum(len(t) for t in trees), 3)
    together = state_leaves(tree_forward(cell, x, TreeSchedule.build(trees)))
    alone = [state_leaves(tree_forward(cell, part, TreeSchedule.build([t])))
             for t, part in zip(trees, x.split([len(t) for t in trees]))]
    for k, leaf in enumerate(together):
        torch.testing.assert_close(leaf, torch.cat([a[k] for a in alone]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("tree_cell, chain_cell", [
    (lambda: ChildSumTreeLSTMCell(3, 5), lambda: rnnkit.LSTMCell(3, 5)),
    (lambda: NaryTreeLSTMCell(3, 5, arity=1), lambda: rnnkit.LSTMCell(3, 5)),
    (lambda: RecursiveCell(3, 5, arity=1), lambda: rnnkit.SimpleRNNCell(3, 5)),
    (lambda: RecursiveCell(3, 5, arity=1, nonlinearity="relu"), lambda: rnnkit.SimpleRNNCell(3, 5, nonlinearity="relu")),
], ids=["child-sum=lstm", "nary1=lstm", "recursive1=srn", "recursive1-relu=srn-relu"])
def test_a_chain_tree_is_the_chain_cell_with_the_same_weights(tree_cell, chain_cell):
    """Node t is the one child of node t + 1: the tree cell runs the chain cell's recurrence."""
    chain, tree = chain_cell().double(), tree_cell().double()
    tree.load_state_dict(chain.state_dict())                 # same names and shapes
    x = torch.randn(1, 9, 3, dtype=torch.double)
    y, _ = rnnkit.RNN(chain)(x)                              # (1, T, H)
    states = tree_forward(tree, x[0], TreeSchedule.build([Tree.chain(9)]))
    torch.testing.assert_close(state_leaves(states)[0], y[0], rtol=0, atol=1e-14)


def test_nary_cell_tells_left_from_right_and_child_sum_does_not():
    x = torch.randn(3, 3)
    left_right, right_left = Tree([-1, 0, 0]), Tree([-1, 0, 0])
    swap = torch.tensor([0, 2, 1])
    for cell, ordered in ((NaryTreeLSTMCell(3, 4), True), (ChildSumTreeLSTMCell(3, 4), False),
                          (RecursiveCell(3, 4), True)):
        a = state_leaves(tree_forward(cell, x, TreeSchedule.build([left_right])))[0][0]
        b = state_leaves(tree_forward(cell, x[swap], TreeSchedule.build([right_left])))[0][0]
        assert torch.allclose(a, b, atol=1e-6) != ordered, type(cell).__name__


def test_errors_name_the_argument():
    cell = NaryTreeLSTMCell(3, 4, arity=2)
    with pytest.raises(ValueError, match="a node has 3 children, more than this cell's arity 2"):
        tree_forward(cell, torch.zeros(4, 3), TreeSchedule.build([Tree([-1, 0, 0, 0])]))
    with pytest.raises(ValueError, match="x: expected one row per node \\(2\\), got 3"):
        tree_forward(cell, torch.zeros(3, 3), TreeSchedule.build([Tree([-1, 0])]))
    with pytest.raises(ValueError, match="x: expected shape \\(B, 3\\)"):
        tree_forward(cell, torch.zeros(2, 5), TreeSchedule.build([Tree([-1, 0])]))
    with pytest.raises(ValueError, match="arity: expected"):
        RecursiveCell(3, 4, arity=0)
    with pytest.raises(ValueError, match="nonlinearity: expected one of"):
        RecursiveCell(3, 4, nonlinearity="swish")


def test_cell_forward_without_children_is_a_leaf():
    cell = ChildSumTreeLSTMCell(3, 4)
    x = torch.randn(2, 3)
    h, c = cell(x)
    i, f, g, o = torch.nn.functional.linear(x, cell.weight_ih, cell.bias_ih + cell.bias_hh).chunk(4, 1)
    torch.testing.assert_close(c, torch.sigmoid(i) * torch.tanh(g))
    torch.testing.assert_close(h, torch.sigmoid(o) * torch.tanh(c))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_inputs_at_some_nodes_equal_zeros_elsewhere(name):
    cell = CELLS[name]()
    schedule = TreeSchedule.build(_trees(seed=4))
    nodes = torch.tensor([0, 2, 3, 7, 11, schedule.num_nodes - 1])
    x = torch.randn(len(nodes), 3)
    full = torch.zeros(schedule.num_nodes, 3).index_copy(0, nodes, x)
    for kernel in (True, False):
        for a, b in zip(state_leaves(tree_forward(cell, x, schedule, nodes, kernel=kernel)),
                        state_leaves(tree_forward(cell, full, schedule, kernel=kernel))):
            torch.testing.assert_close(a, b)


def test_the_kernel_refuses_double_backward_and_the_loop_takes_it():
    from rnnkit.kernels import DoubleBackwardError

    cell = NaryTreeLSTMCell(2, 3).double()
    schedule = TreeSchedule.build([Tree.from_brackets("(1 (1 a) (1 b))")])
    x = torch.randn(3, 2, dtype=torch.double, requires_grad=True)
    h = tree_forward(cell, x, schedule).h
    with pytest.raises(DoubleBackwardError, match="kernel=False"):
        torch.autograd.grad(h.sum(), x, create_graph=True)
    assert torch.autograd.gradcheck(lambda x: tree_forward(cell, x, schedule, kernel=False).h, (x,))
    assert torch.autograd.gradgradcheck(lambda x: tree_forward(cell, x, schedule, kernel=False).h, (x,))


def test_a_recursive_cell_with_a_callable_runs_the_autograd_loop():
    cell = RecursiveCell(3, 4, nonlinearity=lambda z: z * torch.sigmoid(z))
    trees = _trees(seed=5, widest=2)
    x = torch.randn(sum(len(t) for t in trees), 3)
    torch.testing.assert_close(tree_forward(cell, x, TreeSchedule.build(trees)), tree_forward_per_node(cell, x, trees))
