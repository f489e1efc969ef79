"""Shared cases for the kernel tests: cell configurations, regimes and comparison helpers.

(A uniquely named module rather than conftest.py, so that importing it is unambiguous.)
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cells.base import state_leaves
from rnnkit.kernels import native

T, B, I, H = 5, 3, 4, 6
LENGTHS = [5, 2, 4]

CELLS = {"lstm": rnnkit.LSTMCell, "gru": rnnkit.GRUCell, "srn": rnnkit.SimpleRNNCell}

# Every variant of section 2 of the issue, and the standard cells, with options mixed in.
VARIANTS = [
    ("lstm", {}),
    ("lstm", {"peephole": True}),
    ("lstm", {"coupled": True, "peephole": True}),
    ("lstm", {"forget_gate": False, "peephole": True}),
    ("lstm", {"layer_norm": True}),
    ("lstm", {"layer_norm": True, "peephole": True, "proj_size": 3}),
    ("lstm", {"recurrent_activation": "hard_sigmoid", "activation": "softsign"}),
    ("lstm", {"forget_bias": 1.0, "bias": False, "activation": "relu", "proj_size": 2}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"layer_norm": True}),
    ("gru", {"reset_after": False, "layer_norm": True, "bias": False}),
    ("gru", {"recurrent_activation": "hard_sigmoid", "activation": "linear"}),
    ("srn", {}),
    ("srn", {"nonlinearity": "softsign"}),
    ("srn", {"nonlinearity": "relu", "bias": False}),
]
VARIANT_IDS = [f"{kind}-" + ",".join(f"{k}={v}" for k, v in options.items()) for kind, options in VARIANTS]

# lengths / recurrent-dropout mask / zoneout (training draws or the evaluation expectation)
REGIMES = {
    "plain": dict(lengths=False, mask=False, zoneout=0.0, training=False),
    "lengths-mask": dict(lengths=True, mask=True, zoneout=0.0, training=False),
    "lengths-mask-zoneout-train": dict(lengths=True, mask=True, zoneout=0.3, training=True),
    "zoneout-eval": dict(lengths=False, mask=False, zoneout=0.3, training=False),
}


def make_cell(kind, options, dtype=torch.float64, input_size=I, hidden_size=H):
    """A cell with every parameter drawn (layer-norm gains near 1, not exactly, so they are tested)."""
    cell = CELLS[kind](input_size, hidden_size, **options).to(dtype)
    with torch.no_grad():
        for name, param in cell.named_parameters():
            if name.startswith("ln_") and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            else:
                param.uniform_(-0.5, 0.5)
    return cell


def random_state(cell, batch=B):
    """A random initial state requiring grad, with the cell's structure."""
    state = cell.init_state(batch)
    parts = [torch.rand_like(s).sub_(0.5).requires_grad_() for s in state_leaves(state)]
    return type(state)(*parts) if isinstance(state, tuple) else parts[0]


def recurrent_mask(cell, dtype=torch.float64, batch=B):
    """A variational dropout mask (Bernoulli(0.5) / 0.5) over h_{t-1}."""
    return torch.empty(batch, cell.output_size, dtype=dtype).bernoulli_(0.5).mul_(2.0)


def loss_weights(y, final, seed=7):
    """Random weights ``(Gy, [Gf per state part])`` for :func:`weighted_loss`."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(y.shape, generator=gen, dtype=y.dtype),
            [torch.randn(part.shape, generator=gen, dtype=part.dtype) for part in state_leaves(final)])


def weighted_loss(y, final, weights):
    """``sum(y * Gy) + sum(final * Gf)``: every output and final state part gets a gradient."""
    Gy, Gf = weights
    return (y * Gy).sum() + sum((part * g).sum() for part, g in zip(state_leaves(final), Gf))


def grads_of(loss, cell, x, state):
    """dL/d(every parameter by name, "x", "h0"[, "c0"]) as a dict of tensors."""
    named = dict(cell.named_parameters())
    inputs = [x, *state_leaves(state), *named.values()]
    values = torch.autograd.grad(loss, inputs)
    names = ["x", "h0", "c0"][:1 + len(state_leaves(state))] + list(named)
    return dict(zip(names, values))


def assert_close(actual, expected, atol, name=""):
    actual = actual.detach() if isinstance(actual, torch.Tensor) else torch.as_tensor(actual)
    expected = expected.detach() if isinstance(expected, torch.Tensor) else torch.as_tensor(np.asarray(expected))
    assert actual.shape == expected.shape, name
    torch.testing.assert_close(actual.to(expected.dtype), expected, atol=atol, rtol=0, msg=lambda m: f"{name}: {m}")


ENGINES = ["torch", "native"]


def use_engine(engine, monkeypatch):
    """Runs the kernels' step loops in torch ops, or in the compiled loops (the session's background
    build is waited for; skipped where they cannot be built)."""
    if engine == "native":
        if native.wait_for_build(timeout=900) is None:
            pytest.skip("C++ step loops not buildable here (no compiler?): the torch loops run instead")
        monkeypatch.setenv(native.ENV, "1")
    else:
        monkeypatch.setenv(native.ENV, "0")
