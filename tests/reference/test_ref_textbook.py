"""srn_lm_loss, the textbook language model (min-char-rnn's lossFun)."""
from __future__ import annotations

import numpy as np
import pytest

from refcases import B, H, I, T, TOL
from rnnkit.reference import backward, finite_difference_errors, forward, srn_lm_loss

K = 5


def _case(rng):
    params = {"weight_ih": rng.uniform(-.5, .5, (H, I)), "weight_hh": rng.uniform(-.5, .5, (H, H)),
              "bias_ih": rng.uniform(-.5, .5, H), "bias_hh": rng.uniform(-.5, .5, H),
              "V": rng.uniform(-.5, .5, (K, H)), "c": rng.uniform(-.5, .5, K)}
    return params, rng.standard_normal((T, B, I)), rng.integers(0, K, (T, B)), rng.uniform(-.5, .5, (B, H))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_srn_lm_loss_gradients_match_finite_differences(nonlinearity, rng):
    params, x, targets, h0 = _case(rng)
    _, grads = srn_lm_loss(params, x, targets, h0, nonlinearity)
    errors = finite_difference_errors(lambda: srn_lm_loss(params, x, targets, h0, nonlinearity)[0],
                                      dict(params, x=x, h0=h0), grads)
    assert max(errors.values()) < TOL, errors


def test_srn_lm_loss_agrees_with_forward_and_backward(rng):
    # The same model assembled from forward()/backward() plus a softmax layer by hand.
    params, x, targets, h0 = _case(rng)
    loss, grads = srn_lm_loss(params, x, targets, h0)
    rnn = {k: params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    hs, _, cache = forward("srn", rnn, x, h0)
    logits = hs @ params["V"].T + params["c"]                        # (T, B, K)
    o = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    onehot = np.eye(K)[targets]
    np.testing.assert_allclose(loss, -np.log((o * onehot).sum(axis=2)).sum(), rtol=1e-12)
    g = backward(cache, (o - onehot) @ params["V"], None)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "x", "h0"):
        np.testing.assert_allclose(grads[name], g[name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["V"], np.einsum("tbk,tbh->kh", o - onehot, hs), rtol=1e-10)


def test_srn_lm_loss_rejects_missing_params(rng):
    params, x, targets, h0 = _case(rng)
    del params["c"]
    with pytest.raises(ValueError, match="params"):
        srn_lm_loss(params, x, targets, h0)
