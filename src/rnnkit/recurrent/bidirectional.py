"""``Bidirectional``: a forward layer and a backward layer over the same padded batch."""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .. import _checks
from .loop import reverse_padded

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(nn.Module):
    """Runs ``forward_layer`` on x and ``backward_layer`` on each row's valid steps reversed.

    ``y_t = merge(fwd_t, bwd_t)`` where ``bwd_t`` is the backward layer's output for step t
    (put back in input order; padding stays at the end and is zero).

    Arguments:
        forward_layer: a batch-first layer ``layer(x, state=None, lengths=None) -> (outputs, final)``
            (``rnnkit.RNN``, ``rnnkit.LSTM``, a user layer, ...), running forward in time.
        backward_layer: the layer for the reversed direction; None: a copy of ``forward_layer``
            with fresh parameters (``reset_parameters`` of every submodule that has one).
        merge: ``"concat"`` (``(B, T, 2R)``), ``"sum"``, ``"mul"``, ``"ave"`` (``(B, T, R)``), or None
            (returns the pair ``(fwd, bwd)``).

    ``forward(x, state=None, lengths=None) -> (outputs, (final_fwd, final_bwd))``; ``state`` is None
    or a pair ``(state_fwd, state_bwd)``.
    """

    def __init__(self, forward_layer: nn.Module, backward_layer: nn.Module | None = None,
                 merge: str | None = "concat"):
        super().__init__()
        if merge not in MERGE_MODES:
            raise ValueError(f"merge: expected one of {MERGE_MODES}, got {merge!r}")
        if getattr(forward_layer, "batch_first", True) is False:
            raise ValueError("forward_layer: Bidirectional needs batch_first layers, got batch_first=False")
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer if backward_layer is not None else _fresh_copy(forward_layer)
        self.merge = merge

    def forward(self, x: torch.Tensor, state: Any = None, lengths=None):
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected a 3-d tensor of shape (B, T, F), got {got}")
        checked = _checks.check_lengths(lengths, x.shape[0], x.shape[1], x.device)
        if state is None:
            state = (None, None)
        elif not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state: expected None or a pair (state_fwd, state_bwd), got {type(state).__name__}")
        y_fwd, final_fwd = self.forward_layer(x, state[0], lengths=lengths)
        y_bwd, final_bwd = self.backward_layer(reverse_padded(x, checked), state[1], lengths=lengths)
        y_bwd = reverse_padded(y_bwd, checked)
        return merge_directions(y_fwd, y_bwd, self.merge), (final_fwd, final_bwd)

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"


def merge_directions(y_fwd: torch.Tensor, y_bwd: torch.Tensor, merge: str | None):
    """Combines the two directions' outputs ``(B, T, R)`` as ``merge`` says."""
    if merge == "concat":
        return torch.cat([y_fwd, y_bwd], dim=-1)
    if merge == "sum":
        return y_fwd + y_bwd
    if merge == "mul":
        return y_fwd * y_bwd
    if merge == "ave":
        return (y_fwd + y_bwd) / 2
    return y_fwd, y_bwd


def _fresh_copy(layer: nn.Module) -> nn.Module:
    clone = copy.deepcopy(layer)
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone
