"""Gradient-check utilities, activation derivatives, layer norm over blocks, option validation."""
from __future__ import annotations

import numpy as np
import pytest

from refcases import make_case
from rnnkit.reference import ACTIVATIONS, forward, init_params, max_relative_error, numerical_gradient
from rnnkit.reference._layernorm import ln_blocks_backward, ln_blocks_forward


def test_numerical_gradient_restores_and_differentiates(rng):
    a = rng.standard_normal((3, 4))
    before = a.copy()
    g = numerical_gradient(lambda: float((a ** 3).sum()), a)
    np.testing.assert_array_equal(a, before)
    assert max_relative_error(g, 3 * a ** 2) < 1e-8


def test_max_relative_error_is_normwise():
    assert max_relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-9])) == pytest.approx(1e-9)
    assert max_relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert max_relative_error(np.array([2.0]), np.array([1.0])) == pytest.approx(0.5)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative_matches_finite_differences(name, rng):
    f, df = ACTIVATIONS[name]
    z = rng.uniform(-4, 4, 200)
    z = z[np.abs(np.abs(z) - 3) > 1e-3]                              # away from hard_sigmoid's kinks
    z = z[np.abs(z) > 1e-3]                                          # and relu's / softsign's
    numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
    assert max_relative_error(df(z, f(z)), numeric) < 1e-7


def test_hard_sigmoid_is_keras3():
    f, _ = ACTIVATIONS["hard_sigmoid"]
    np.testing.assert_allclose(f(np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 9.0])), [0, 0, 0.5, 0.75, 1, 1])


def test_layer_norm_blocks_normalise_each_block_and_backprop(rng):
    z = rng.standard_normal((3, 12)) * 3 + 1
    zhat, cache = ln_blocks_forward(z, 4)
    blocks = zhat.reshape(3, 4, 3)
    np.testing.assert_allclose(blocks.mean(axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(((z.reshape(3, 4, 3) - z.reshape(3, 4, 3).mean(2, keepdims=True)) /
                                np.sqrt(z.reshape(3, 4, 3).var(2, keepdims=True) + 1e-5)), blocks, rtol=1e-12)
    G = rng.standard_normal(zhat.shape)
    numeric = numerical_gradient(lambda: float((ln_blocks_forward(z, 4)[0] * G).sum()), z)
    assert max_relative_error(ln_blocks_backward(G, cache), numeric) < 1e-7


@pytest.mark.parametrize("options", [{"forget_gate": False, "forget_bias": 1.0},
                                     {"coupled": True, "forget_bias": 1.0},
                                     {"coupled": True, "forget_gate": False},
                                     {"activation": "gelu"}])
def test_invalid_lstm_options_raise(options, rng):
    with pytest.raises(ValueError):
        init_params("lstm", 4, 6, rng=rng, **options)


def test_params_that_do_not_fit_the_options_raise(rng):
    params, x, state0 = make_case("lstm", rng, peephole=True)
    with pytest.raises(ValueError, match="weight_ci"):
        forward("lstm", params, x, state0)                           # peephole params, no peephole
    with pytest.raises(ValueError, match="kind"):
        forward("rnn", params, x, state0)


@pytest.mark.parametrize("kind, options, names", [
    ("lstm", {"coupled": True, "peephole": True}, {"weight_ci", "weight_co"}),
    ("lstm", {"forget_gate": False, "peephole": True, "layer_norm": True, "proj_size": 2},
     {"weight_ci", "weight_co", "ln_ih_weight", "ln_hh_weight", "ln_cell_weight", "ln_cell_bias", "weight_hr"}),
    ("gru", {"layer_norm": True}, {"ln_ih_weight", "ln_hh_weight"}),
])
def test_init_params_shapes(kind, options, names, rng):
    p = init_params(kind, 4, 6, rng=rng, **options)
    assert set(p) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"} | names
    G = 3
    assert p["weight_ih"].shape == (G * 6, 4)
    if "weight_hr" in p:
        assert p["weight_hr"].shape == (2, 6) and p["weight_hh"].shape == (G * 6, 2)


def test_wrong_shapes_raise(rng):
    params, x, (h0, c0) = make_case("lstm", rng, proj_size=3)
    with pytest.raises(ValueError, match="x"):
        forward("lstm", params, x[..., :2], (h0, c0), proj_size=3)
    with pytest.raises(ValueError, match="state0 h"):
        forward("lstm", params, x, (c0, c0), proj_size=3)
    with pytest.raises(ValueError, match="recurrent_mask"):
        forward("lstm", params, x, (h0, c0), proj_size=3, recurrent_mask=np.ones_like(c0))
