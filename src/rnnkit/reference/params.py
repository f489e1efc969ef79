"""Parameter initialisation for the reference cells (tests and callers).

Every parameter the options imply, float64, drawn from ``rng``:

    weights, biases, peepholes:   uniform(-scale, scale)
    ln_*_weight (gains):          1 + 0.1 * normal      (near 1, but not exactly, so that
    ln_cell_bias:                 0.1 * normal           their gradient checks mean something)
"""
from __future__ import annotations

import numpy as np

from .sequence import get_cell


def init_params(kind, input_size, hidden_size, *, bias=True, rng, scale=0.5, **cell_options) -> dict:
    """Returns dict name -> array for a ``kind`` cell ("srn", "lstm", "gru") with these options.

    Arguments:
        input_size: I; hidden_size: H; bias: whether bias_ih / bias_hh exist;
        rng: a ``numpy.random.Generator``; scale: half-width of the uniform draws;
        **cell_options: the cell constructor's options (proj_size, peephole, layer_norm, ...).
    """
    cell = get_cell(kind)
    opts = cell.options(**cell_options)
    params = {}
    for name, shape in cell.param_shapes(input_size, hidden_size, bias, opts).items():
        if name.startswith("ln_") and name.endswith("_weight"):
            params[name] = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name == "ln_cell_bias":
            params[name] = 0.1 * rng.standard_normal(shape)
        else:
            params[name] = rng.uniform(-scale, scale, size=shape)
    return params


def init_state(kind, batch_size, hidden_size, *, rng=None, scale=0.5, proj_size=0):
    """An initial state: srn/gru ``h0 (B, H)``; lstm ``(h0 (B, R), c0 (B, H))``, R = proj_size or H.

    Zeros when ``rng`` is None, else uniform(-scale, scale).
    """
    def draw(shape):
        return np.zeros(shape) if rng is None else rng.uniform(-scale, scale, size=shape)
    if kind == "lstm":
        return (draw((batch_size, proj_size or hidden_size)), draw((batch_size, hidden_size)))
    get_cell(kind)
    return draw((batch_size, hidden_size))
