"""Bidirectional: the backward direction reads each row's valid part reversed."""
from __future__ import annotations

import numpy as np
import pytest

from refcases import P, TOL, as_tuple, loss_weights, make_case, state_dot, weighted_loss
from rnnkit.reference import (bidirectional_backward, bidirectional_forward, finite_difference_errors,
                              forward, init_params, init_state)

CASES = [("srn", {}), ("lstm", {"proj_size": P, "peephole": True}), ("gru", {"reset_after": False})]
LENGTHS = np.array([5, 2, 4])


def _setup(kind, options, rng, lengths):
    params_f, x, s0_f = make_case(kind, rng, **options)
    params_b = init_params(kind, x.shape[2], 6, rng=rng, **options)
    s0_b = init_state(kind, x.shape[1], 6, rng=rng, proj_size=options.get("proj_size", 0))
    return params_f, params_b, x, s0_f, s0_b


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
@pytest.mark.parametrize("kind, options", CASES, ids=[c[0] for c in CASES])
def test_bidirectional_gradients_match_finite_differences(kind, options, lengths, rng):
    params_f, params_b, x, s0_f, s0_b = _setup(kind, options, rng, lengths)
    y, (ff, fb), cache = bidirectional_forward(kind, params_f, params_b, x, s0_f, s0_b,
                                               lengths=lengths, **options)
    Gy, Gff = loss_weights(rng, y, ff)
    _, Gfb = loss_weights(rng, y, fb)
    g_f, g_b, dx = bidirectional_backward(cache, Gy, (Gff, Gfb))

    def loss():
        y, (ff, fb), _ = bidirectional_forward(kind, params_f, params_b, x, s0_f, s0_b,
                                               lengths=lengths, **options)
        return weighted_loss(y, ff, Gy, Gff) + state_dot(fb, Gfb)

    arrays, analytic = {"x": x}, {"x": dx}
    for tag, params, s0, g in (("f", params_f, s0_f, g_f), ("b", params_b, s0_b, g_b)):
        assert "x" not in g
        for name, value in params.items():
            arrays[f"{tag}.{name}"], analytic[f"{tag}.{name}"] = value, g[name]
        for name, value in zip(("h0", "c0"), as_tuple(s0)):
            arrays[f"{tag}.{name}"], analytic[f"{tag}.{name}"] = value, g[name]
    errors = finite_difference_errors(loss, arrays, analytic)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("kind, options", CASES, ids=[c[0] for c in CASES])
def test_backward_direction_is_the_reversed_row_run_alone(kind, options, rng):
    params_f, params_b, x, s0_f, s0_b = _setup(kind, options, rng, LENGTHS)
    y, (_, fb), _ = bidirectional_forward(kind, params_f, params_b, x, s0_f, s0_b, lengths=LENGTHS, **options)
    R = y.shape[2] // 2
    for b, L in enumerate(LENGTHS):
        assert np.all(y[L:, b] == 0.0)
        s0_row = tuple(s[b:b + 1] for s in as_tuple(s0_b))
        y_r, f_r, _ = forward(kind, params_b, x[:L, b:b + 1][::-1], s0_row if kind == "lstm" else s0_row[0],
                              **options)
        np.testing.assert_allclose(y[:L, b:b + 1, R:], y_r[::-1], rtol=0, atol=1e-13)
        for got, want in zip(as_tuple(fb), as_tuple(f_r)):
            np.testing.assert_allclose(got[b:b + 1], want, rtol=0, atol=1e-13)
