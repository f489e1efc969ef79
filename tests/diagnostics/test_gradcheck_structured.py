"""Every torch tree / graph gradient equals the NumPy reference's hand-derived one (float64)."""
from __future__ import annotations

import pytest

from rnnkit.diagnostics import STRUCTURED_CELLS, check_ggnn_against_reference, check_tree_against_reference
from rnnkit.diagnostics.gradcheck_structured import TREE_PATHS, random_parents
from rnnkit.structured import Tree

TOL = 1e-10
TREE_CASES = [
    ("tree-lstm", {}), ("tree-lstm", {"bias": False}),
    ("nary-tree-lstm", {}), ("nary-tree-lstm", {"arity": 3}), ("nary-tree-lstm", {"bias": False}),
    ("recursive", {}), ("recursive", {"arity": 3, "nonlinearity": "relu"}), ("recursive", {"bias": False}),
]


@pytest.mark.parametrize("path", TREE_PATHS)
@pytest.mark.parametrize("cell, options", TREE_CASES,
                         ids=[c + "".join(f"-{k}={v}" for k, v in o.items()) for c, o in TREE_CASES])
def test_tree_cells_match_the_reference(cell, options, path):
    errors = check_tree_against_reference(cell, path=path, seed=3, trees=5, **options)
    assert {"h", "weight_ih", "weight_hh", "x"} <= set(errors)
    assert ("c" in errors) == (cell != "recursive")
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("options", [{}, {"bias": False}, {"reset_after": True}], ids=["default", "no-bias", "reset-after"])
def test_ggnn_matches_the_reference(options):
    errors = check_ggnn_against_reference(seed=4, steps=4, **options)
    assert {"h", "weight_in", "weight_out", "gru.weight_hh", "annotation"} <= set(errors)
    assert max(errors.values()) < TOL, errors


def test_random_trees_respect_the_arity_and_shuffle_numbers():
    import numpy as np

    rng = np.random.default_rng(0)
    trees = [Tree(random_parents(rng, 12, 2)) for _ in range(20)]
    assert max(t.max_children for t in trees) == 2
    assert any(t.root != 0 for t in trees)


def test_a_foreign_option_is_refused():
    with pytest.raises(ValueError, match="--cell tree-lstm does not take arity"):
        check_tree_against_reference("tree-lstm", arity=3)
    with pytest.raises(ValueError, match="--cell ggnn does not take nonlinearity"):
        check_ggnn_against_reference(nonlinearity="relu")


def test_cli_names_match_the_library():
    from rnnkit.cli.gradcheck import STRUCTURED

    assert STRUCTURED == STRUCTURED_CELLS
