"""The time loop around the cell: lengths (padding), recurrent dropout mask, zoneout."""
from __future__ import annotations

import numpy as np
import pytest

from refcases import H, P, T, as_tuple, fd_check, make_case
from rnnkit.reference import backward, forward, reverse_padded

LOOP_CASES = [
    ("srn", {}),
    ("lstm", {"peephole": True, "proj_size": P}),
    ("lstm", {"layer_norm": True}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False, "layer_norm": True}),
]
IDS = [f"{k}-{'-'.join(o) or 'default'}" for k, o in LOOP_CASES]
LENGTHS = np.array([T, 1, 3, 4])          # mixed, with a full row and a length-1 row


def _rows(state, b):
    return tuple(s[b:b + 1] for s in as_tuple(state))


def _public(kind, parts):
    return tuple(parts) if kind == "lstm" else parts[0]


@pytest.mark.parametrize("kind, options", LOOP_CASES, ids=IDS)
def test_lengths_gradients_match_finite_differences(kind, options, rng):
    params, x, state0 = make_case(kind, rng, batch=len(LENGTHS), **options)
    grads = fd_check(kind, params, x, state0, rng, lengths=LENGTHS, **options)
    for b, L in enumerate(LENGTHS):
        assert np.all(grads["x"][L:, b] == 0.0)          # padded inputs do not matter


@pytest.mark.parametrize("kind, options", LOOP_CASES, ids=IDS)
def test_padded_rows_equal_rows_run_alone(kind, options, rng):
    params, x, state0 = make_case(kind, rng, batch=len(LENGTHS), **options)
    x[LENGTHS[1]:, 1] = 1e6                              # garbage in the padding must not leak
    y, final, _ = forward(kind, params, x, state0, lengths=LENGTHS, **options)
    for b, L in enumerate(LENGTHS):
        assert np.all(y[L:, b] == 0.0)
        y_b, final_b, _ = forward(kind, params, x[:L, b:b + 1], _public(kind, _rows(state0, b)), **options)
        np.testing.assert_allclose(y[:L, b:b + 1], y_b, rtol=0, atol=1e-13)
        for got, want in zip(_rows(final, b), as_tuple(final_b)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_full_lengths_equal_no_lengths(rng):
    params, x, state0 = make_case("lstm", rng)
    y1, f1, _ = forward("lstm", params, x, state0)
    y2, f2, _ = forward("lstm", params, x, state0, lengths=np.full(x.shape[1], T))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(f1[1], f2[1])


@pytest.mark.parametrize("lengths", [np.array([0, 2, 3]), np.array([6, 2, 3]), np.array([2, 3])])
def test_bad_lengths_raise(lengths, rng):
    params, x, state0 = make_case("srn", rng)
    with pytest.raises(ValueError, match="lengths"):
        forward("srn", params, x, state0, lengths=lengths)


@pytest.mark.parametrize("kind, options", LOOP_CASES, ids=IDS)
def test_recurrent_mask_gradients_match_finite_differences(kind, options, rng):
    params, x, state0 = make_case(kind, rng, **options)
    R = as_tuple(state0)[0].shape[1]
    mask = (rng.random((x.shape[1], R)) < 0.7) / 0.7
    fd_check(kind, params, x, state0, rng, recurrent_mask=mask, **options)


def test_mask_of_ones_is_no_mask(rng):
    params, x, h0 = make_case("gru", rng, reset_after=False)
    y1, _, _ = forward("gru", params, x, h0, reset_after=False)
    y2, _, _ = forward("gru", params, x, h0, reset_after=False, recurrent_mask=np.ones_like(h0))
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_interpolation_uses_unmasked_state(reset_after, rng):
    # With M = 0 the gates do not see h0, so h_1 = (1 - z) n + z h0 is affine in h0.
    params, x, h0 = make_case("gru", rng, reset_after=reset_after)
    zero = np.zeros_like(h0)

    def h1(h):
        return forward("gru", params, x[:1], h, recurrent_mask=zero, reset_after=reset_after)[0][0]
    np.testing.assert_allclose(h1(2 * h0) - h1(zero), 2 * (h1(h0) - h1(zero)), atol=1e-13)
    assert np.abs(h1(h0) - h1(zero)).max() > 1e-3


def _zoneout(kind, rng, state0, bernoulli):
    draw = (lambda shape: (rng.random(shape) < 0.3).astype(float)) if bernoulli else rng.random
    return {name: draw((T,) + s.shape) for name, s in zip(("h", "c"), as_tuple(state0))}


@pytest.mark.parametrize("bernoulli", [False, True], ids=["eval-d", "train-d"])
@pytest.mark.parametrize("kind, options", LOOP_CASES, ids=IDS)
def test_zoneout_gradients_match_finite_differences(kind, options, bernoulli, rng):
    params, x, state0 = make_case(kind, rng, **options)
    fd_check(kind, params, x, state0, rng, zoneout=_zoneout(kind, rng, state0, bernoulli), **options)


def test_zoneout_mask_and_lengths_together(rng):
    options = {"peephole": True, "proj_size": P}
    params, x, state0 = make_case("lstm", rng, batch=len(LENGTHS), **options)
    mask = (rng.random((len(LENGTHS), P)) < 0.7) / 0.7
    fd_check("lstm", params, x, state0, rng, lengths=LENGTHS, recurrent_mask=mask,
             zoneout=_zoneout("lstm", rng, state0, False), **options)


def test_zoneout_extremes(rng):
    params, x, state0 = make_case("lstm", rng)
    ones = {"h": np.ones((T,) + state0[0].shape), "c": np.ones((T,) + state0[1].shape)}
    y, final, _ = forward("lstm", params, x, state0, zoneout=ones)      # d = 1: the state never moves
    np.testing.assert_array_equal(y, np.broadcast_to(state0[0], y.shape))
    np.testing.assert_array_equal(final[1], state0[1])
    zeros = {"h": np.zeros_like(ones["h"])}                             # d = 0: no zoneout
    np.testing.assert_array_equal(forward("lstm", params, x, state0, zoneout=zeros)[0],
                                  forward("lstm", params, x, state0)[0])


def test_zoneout_c_is_lstm_only(rng):
    params, x, h0 = make_case("gru", rng)
    with pytest.raises(ValueError, match="zoneout"):
        forward("gru", params, x, h0, zoneout={"c": np.zeros((T,) + h0.shape)})


def test_reverse_padded_keeps_padding_at_the_end():
    a = np.arange(T)[:, None] * np.ones((1, 3))                 # a[t, b] = t
    out = reverse_padded(a, np.array([T, 2, 3]))
    np.testing.assert_array_equal(out[:, 0], [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(out[:, 1], [1, 0, 2, 3, 4])
    np.testing.assert_array_equal(out[:, 2], [2, 1, 0, 3, 4])
    np.testing.assert_array_equal(reverse_padded(out, np.array([T, 2, 3])), a)


def test_backward_accepts_none_for_unused_gradients(rng):
    params, x, state0 = make_case("lstm", rng)
    y, final, cache = forward("lstm", params, x, state0)
    g = backward(cache, None, None)
    assert all(np.all(v == 0) for v in g.values())
    assert g["h0"].shape == state0[0].shape and g["c0"].shape == (x.shape[1], H)
