"""Shared cases for the ecosystem tests (export, compile, autocast): every layer configuration once.

(A uniquely named module rather than conftest.py, so that importing it is unambiguous.)
"""
from __future__ import annotations

import torch

import rnnkit
from rnnkit.cells.base import state_leaves

B, T, I, H = 3, 5, 4, 6
LENGTHS = [5, 2, 4]

# The standard layers, every cell variant, the regularisers (evaluation mode), stacks and both directions.
LAYERS = [
    (rnnkit.SimpleRNN, {}),
    (rnnkit.SimpleRNN, {"nonlinearity": "relu", "num_layers": 2}),
    (rnnkit.LSTM, {}),
    (rnnkit.LSTM, {"layer_norm": True}),
    (rnnkit.LSTM, {"peephole": True}),
    (rnnkit.LSTM, {"coupled": True}),
    (rnnkit.LSTM, {"forget_gate": False}),
    (rnnkit.LSTM, {"proj_size": 3}),
    (rnnkit.LSTM, {"recurrent_activation": "hard_sigmoid"}),
    (rnnkit.LSTM, {"recurrent_dropout": 0.3, "zoneout": 0.2}),
    (rnnkit.LSTM, {"num_layers": 2, "bidirectional": True}),
    (rnnkit.GRU, {}),
    (rnnkit.GRU, {"reset_after": False}),
    (rnnkit.GRU, {"layer_norm": True}),
    (rnnkit.GRU, {"zoneout": 0.2, "recurrent_dropout": 0.3}),
    (rnnkit.GRU, {"num_layers": 2, "bidirectional": True}),
]
LAYER_IDS = [f"{cls.__name__}-" + ",".join(f"{k}={v}" for k, v in options.items()) for cls, options in LAYERS]


def random_state(layer, batch=B, dtype=torch.float32):
    """A random ``(L*D, B, .)`` state in the layer's structure."""
    sizes = layer.cells[0].state_size
    count = len(layer.cells)
    if isinstance(sizes, int):
        return torch.randn(count, batch, sizes, dtype=dtype)
    return type(sizes)(*(torch.randn(count, batch, size, dtype=dtype) for size in sizes))


def assert_same_result(got, want, atol=1e-5):
    """Outputs and every final state tensor equal within ``atol``."""
    (y, final), (y_want, final_want) = got, want
    torch.testing.assert_close(y, y_want, atol=atol, rtol=0)
    for leaf, leaf_want in zip(state_leaves(final), state_leaves(final_want), strict=True):
        torch.testing.assert_close(leaf, leaf_want, atol=atol, rtol=0)
