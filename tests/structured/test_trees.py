"""Tree: bracket strings and parent arrays, heights, orders, and the errors of malformed input."""
from __future__ import annotations

import numpy as np
import pytest

from rnnkit.structured import Tree

SST = "(3 (2 The) (4 (3 best) (2 film)))"


def test_bracket_string_numbers_nodes_in_preorder():
    tree = Tree.from_brackets(SST)
    assert tree.parents == (-1, 0, 0, 2, 2)
    assert tree.labels == ("3", "2", "4", "3", "2")
    assert tree.tokens == (None, "The", None, "best", "film")
    assert tree.children == ((1, 2), (), (3, 4), (), ())
    assert tree.heights.tolist() == [2, 0, 1, 0, 0]
    assert tree.leaves == [1, 3, 4] and tree.words() == ["The", "best", "film"]
    order = tree.order.tolist()
    assert all(order.index(c) < order.index(j) for j in range(5) for c in tree.children[j])   # children first


def test_round_trips_and_relabelling():
    tree = Tree.from_brackets(SST)
    assert tree.to_brackets() == SST
    assert tree.to_brackets([0, 1, 2, 3, 4]) == "(0 (1 The) (2 (3 best) (4 film)))"
    unlabelled = Tree.from_brackets("((The movie) (is (very good)))", labelled=False)
    assert unlabelled.labels is None and unlabelled.words() == ["The", "movie", "is", "very", "good"]
    assert unlabelled.to_brackets() == "((The movie) (is (very good)))"
    assert Tree.from_brackets(unlabelled.to_brackets(), labelled=False) == unlabelled


def test_parent_arrays_in_any_numbering():
    tree = Tree([2, 2, -1, 1])                     # root 2, children 0 and 1, node 3 under node 1
    assert tree.root == 2 and tree.children == ((), (3,), (0, 1), ())
    assert tree.heights.tolist() == [0, 1, 2, 0] and tree.ranks.tolist() == [0, 1, 0, 0]
    assert Tree(np.array([2, 2, -1, 1])) == tree


def test_balanced_and_chain_shapes():
    tree = Tree.balanced("a b c d e".split())
    assert tree.to_brackets() == "(((a b) c) (d e))" and tree.max_children == 2
    assert Tree.balanced(["one"]).parents == (-1,)
    chain = Tree.chain(4)
    assert chain.parents == (1, 2, 3, -1) and chain.heights.tolist() == [0, 1, 2, 3]


def test_a_deep_tree_needs_no_recursion():
    depth = 5000
    text = "(1 " * depth + "x" + ")" * depth
    tree = Tree.from_brackets(text)
    assert len(tree) == depth and int(tree.heights.max()) == depth - 1


@pytest.mark.parametrize("text, message", [
    ("(3 (2 The)", "1 bracket\\(s\\) left open"),
    ("(3 (2 The)) x", "text after the root's closing bracket"),
    ("(3 (2 The))(2 x)", "text after the root's closing bracket"),
    ("()", "an empty bracket"),
    ("(3)", "an empty bracket"),
    ("(3 The Rock)", "more than one word"),
    ("(3 (2 a) b)", "a word and subtrees"),
    ("(3 a (2 b))", "has a word and subtrees"),
    ("The Rock", "expected '\\(' at the start"),
    (") (", "expected '\\(' at the start"),
    ("", "expected '\\(' at the start"),
])
def test_malformed_brackets_are_value_errors(text, message):
    with pytest.raises(ValueError, match=message):
        Tree.from_brackets(text)


@pytest.mark.parametrize("parents, message", [
    ([], "at least one node"),
    ([0], "exactly one root"),
    ([-1, -1], "exactly one root"),
    ([1, 2, 1, -1], "do not reach the root"),
    ([-1, 7], "node 1 has parent 7"),
    ([-1, 1], "node 1 has parent 1"),
    ("ab", "integer parent indices"),
    ([-1, 0.5], "integer parent indices"),
    ([-1, True], "integer parent indices"),
])
def test_malformed_parent_arrays_are_value_errors(parents, message):
    with pytest.raises(ValueError, match=message):
        Tree(parents)


def test_labels_and_tokens_must_match_the_nodes():
    with pytest.raises(ValueError, match="labels: expected one per node \\(2\\), got 1"):
        Tree([-1, 0], labels=[1])
    with pytest.raises(ValueError, match="tokens: expected one per node"):
        Tree([-1, 0], tokens=["a", "b", "c"])
