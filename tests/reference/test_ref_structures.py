"""reference.trees and reference.ggnn: the hand-derived backward passes equal finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from rnnkit.reference import finite_difference_errors, ggnn, trees

TOL = 1e-6
# A tree with a node of three children, unary nodes and leaves at several depths; node numbers
# do not follow the parents (node 9's parent is 3).
PARENTS = [-1, 0, 0, 0, 1, 1, 2, 6, 6, 3]
BINARY = [-1, 0, 0, 1, 1, 2, 5, 5, 4]


@pytest.mark.parametrize("kind, options, parents", [
    ("recursive", {"arity": 2}, BINARY),
    ("recursive", {"arity": 3, "nonlinearity": "relu"}, PARENTS),
    ("recursive", {"arity": 3, "nonlinearity": "softsign"}, PARENTS),
    ("child-sum", {}, PARENTS),
    ("nary", {"arity": 2}, BINARY),
    ("nary", {"arity": 3}, PARENTS),
], ids=["recursive-binary", "recursive-relu", "recursive-softsign", "child-sum", "nary-binary", "nary-3"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_tree_backward_matches_finite_differences(kind, options, parents, bias, rng):
    params = trees.init_params(kind, 3, 4, arity=options.get("arity", 2), bias=bias, rng=rng)
    x = rng.standard_normal((len(parents), 3))
    g_h, g_c = rng.standard_normal((len(parents), 4)), rng.standard_normal((len(parents), 4))

    def loss():
        h, c, _ = trees.forward(kind, params, parents, x, **options)
        return (h * g_h).sum() + (0.0 if c is None else (c * g_c).sum())

    h, c, cache = trees.forward(kind, params, parents, x, **options)
    grads = trees.backward(cache, g_h, None if c is None else g_c)
    errors = finite_difference_errors(loss, {**params, "x": x}, grads)
    assert max(errors.values()) < TOL, errors


def test_leaves_and_a_chain_by_hand(rng):
    """A leaf's Child-Sum state is the LSTM step from zero state; a unary parent adds one more step."""
    params = trees.init_params("child-sum", 2, 3, rng=rng)
    x = rng.standard_normal((2, 2))
    h, c, _ = trees.forward("child-sum", params, [1, -1], x)               # node 0 is node 1's child
    sig = lambda z: 1 / (1 + np.exp(-z))
    b = params["bias_ih"] + params["bias_hh"]

    def step(x_t, h_prev, c_prev):
        a = params["weight_ih"] @ x_t + params["weight_hh"] @ h_prev + b
        i, f, g, o = np.split(a, 4)
        c_t = sig(f) * c_prev + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c_t), c_t

    h0, c0 = step(x[0], np.zeros(3), np.zeros(3))
    h1, c1 = step(x[1], h0, c0)
    np.testing.assert_allclose(np.stack([h0, h1]), h, atol=1e-14)
    np.testing.assert_allclose(np.stack([c0, c1]), c, atol=1e-14)


def test_too_many_children_is_refused(rng):
    params = trees.init_params("nary", 2, 3, arity=2, rng=rng)
    with pytest.raises(ValueError, match="node 0 has 3 children, more than arity 2"):
        trees.forward("nary", params, [-1, 0, 0, 0], np.zeros((4, 2)))
    with pytest.raises(ValueError, match="kind: expected one of"):
        trees.forward("lstm", params, [-1], np.zeros((1, 2)))


EDGES = np.array([[0, 0, 1], [1, 1, 2], [3, 0, 2], [2, 1, 0], [1, 0, 1], [4, 2, 0]])


@pytest.mark.parametrize("reset_after", [False, True], ids=["reset-before", "reset-after"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_ggnn_backward_matches_finite_differences(reset_after, bias, rng):
    params = ggnn.init_params(4, 3, bias=bias, reset_after=reset_after, rng=rng)
    x = rng.standard_normal((5, 2))
    g = rng.standard_normal((5, 4))

    def loss():
        return (ggnn.forward(params, x, EDGES, steps=3, reset_after=reset_after)[0] * g).sum()

    _, cache = ggnn.forward(params, x, EDGES, steps=3, reset_after=reset_after)
    grads = ggnn.backward(cache, g)
    errors = finite_difference_errors(loss, {**params, "annotation": x}, grads)
    assert max(errors.values()) < TOL, errors


def test_ggnn_isolated_node_gets_only_the_gru_of_zero_messages(rng):
    """Node 5 has no edges: a = 0 at every step, so its state is the GRU iterated on a zero input."""
    from rnnkit.reference import gru

    params = ggnn.init_params(4, 3, rng=rng)
    x = rng.standard_normal((6, 2))
    h, _ = ggnn.forward(params, x, EDGES, steps=2)
    p = {k[4:]: v for k, v in params.items() if k.startswith("gru.")}
    state = np.concatenate([x[5:], np.zeros((1, 2))], 1)
    for _ in range(2):
        (state,), _ = gru.step_forward(p, gru.options(reset_after=False), np.zeros((1, 4)), (state,), np.ones((1, 4)))
    np.testing.assert_allclose(h[5:], state, atol=1e-14)
