"""The reference against torch.nn's own RNN/LSTM/GRU (an independent oracle for gate orders).

Only the test imports torch; the reference package itself imports numpy only.
"""
from __future__ import annotations

import numpy as np
import pytest

from rnnkit.reference import backward, forward, init_params, init_state

torch = pytest.importorskip("torch")

T, B, I, H = 5, 3, 4, 6


@pytest.mark.parametrize("kind, options", [("srn", {"nonlinearity": "tanh"}), ("srn", {"nonlinearity": "relu"}),
                                           ("lstm", {}), ("lstm", {"proj_size": 3}), ("gru", {})])
def test_matches_torch_nn_outputs_and_gradients(kind, options, rng):
    params = init_params(kind, I, H, rng=rng, **options)
    x = rng.standard_normal((T, B, I))
    state0 = init_state(kind, B, H, rng=rng, proj_size=options.get("proj_size", 0))
    module = {"srn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        I, H, **options).double()
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name + "_l0").copy_(torch.from_numpy(value))
    tx = torch.from_numpy(x).requires_grad_()
    tstate = tuple(torch.from_numpy(s)[None].requires_grad_() for s in
                   (state0 if kind == "lstm" else (state0,)))
    ty, tfinal = module(tx, tstate if kind == "lstm" else tstate[0])
    tfinal = tfinal if kind == "lstm" else (tfinal,)

    y, final, cache = forward(kind, params, x, state0, **options)
    final = final if kind == "lstm" else (final,)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=1e-12)
    for got, want in zip(final, tfinal):
        np.testing.assert_allclose(got, want[0].detach().numpy(), rtol=0, atol=1e-12)

    Gy = rng.standard_normal(y.shape)
    Gf = tuple(rng.standard_normal(s.shape) for s in final)
    loss = (ty * torch.from_numpy(Gy)).sum() + sum((s[0] * torch.from_numpy(g)).sum() for s, g in zip(tfinal, Gf))
    loss.backward()
    grads = backward(cache, Gy, Gf if kind == "lstm" else Gf[0])
    for name in params:
        np.testing.assert_allclose(grads[name], getattr(module, name + "_l0").grad.numpy(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(grads["x"], tx.grad.numpy(), rtol=0, atol=1e-11)
    for name, s in zip(("h0", "c0"), tstate):
        np.testing.assert_allclose(grads[name], s.grad[0].numpy(), rtol=0, atol=1e-11)
