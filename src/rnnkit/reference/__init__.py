"""NumPy float64 reference: forward passes and hand-derived BPTT for every cell of docs/cells.md.

Imports numpy only, so it cannot share a bug with the torch code. Arrays are time-major
``(T, B, F)``; parameters are dicts with PyTorch's names, shapes and gate orders.

    forward(kind, params, x, state0, *, lengths, recurrent_mask, zoneout, **cell_options)
        -> (y, final_state, cache)
    backward(cache, d_y, d_final_state) -> grads (every param, "x", "h0", lstm "c0")
    bidirectional_forward / bidirectional_backward       both directions, padding-aware
    srn_lm_loss(params, x, targets, h0)                  the textbook language model
    numerical_gradient / max_relative_error / finite_difference_errors   gradient checks
    trees.forward / trees.backward                       recursive NN, Child-Sum and N-ary Tree-LSTM
    ggnn.forward / ggnn.backward                         gated graph network propagation
"""
from ._activations import ACTIVATIONS
from . import ggnn, trees
from ._time import reverse_padded
from .bidirectional import bidirectional_backward, bidirectional_forward
from .gradcheck import finite_difference_errors, max_relative_error, numerical_gradient
from .params import init_params, init_state
from .sequence import backward, forward
from .textbook import srn_lm_loss

__all__ = [
    "ACTIVATIONS",
    "backward",
    "bidirectional_backward",
    "bidirectional_forward",
    "finite_difference_errors",
    "forward",
    "ggnn",
    "init_params",
    "init_state",
    "max_relative_error",
    "numerical_gradient",
    "reverse_padded",
    "srn_lm_loss",
    "trees",
]
