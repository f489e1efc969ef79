"""backward() equals finite differences for every cell variant of docs/cells.md."""
from __future__ import annotations

import pytest

from refcases import fd_check, make_case

VARIANTS = [
    ("srn", {"nonlinearity": "tanh"}),
    ("srn", {"nonlinearity": "relu"}),
    ("srn", {"bias": False}),
    ("lstm", {}),
    ("lstm", {"forget_bias": 1.0}),
    ("lstm", {"peephole": True}),
    ("lstm", {"forget_gate": False}),
    ("lstm", {"forget_gate": False, "peephole": True}),
    ("lstm", {"coupled": True}),
    ("lstm", {"coupled": True, "peephole": True}),
    ("lstm", {"layer_norm": True}),
    ("lstm", {"layer_norm": True, "bias": False}),
    ("lstm", {"proj_size": 3}),
    ("lstm", {"peephole": True, "layer_norm": True, "proj_size": 3}),
    ("lstm", {"recurrent_activation": "hard_sigmoid"}),
    ("lstm", {"activation": "softsign"}),
    ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    ("lstm", {"bias": False}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
    ("gru", {"reset_after": True, "layer_norm": True}),
    ("gru", {"reset_after": False, "layer_norm": True}),
    ("gru", {"reset_after": True, "recurrent_activation": "hard_sigmoid"}),
    ("gru", {"reset_after": False, "recurrent_activation": "hard_sigmoid"}),
    ("gru", {"activation": "softsign"}),
    ("gru", {"reset_after": False, "bias": False}),
    ("gru", {"layer_norm": True, "bias": False}),
]


@pytest.mark.parametrize("kind, options", VARIANTS,
                         ids=[f"{k}-" + ("-".join(f"{a}={b}" for a, b in o.items()) or "default")
                              for k, o in VARIANTS])
def test_backward_matches_finite_differences(kind, options, rng):
    options = dict(options)
    bias = options.pop("bias", True)
    params, x, state0 = make_case(kind, rng, bias=bias, **options)
    fd_check(kind, params, x, state0, rng, **options)
