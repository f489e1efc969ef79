r"""Fine-tuning a pretrained network (ULMFiT, Howard & Ruder 2018) over its layer groups
``g = 1 .. G``, bottom (e.g. the embedding) to top (the new head):

    η_g = η · r^-(G - g)          discriminative learning rates: each group down trains r times slower
                                  (ULMFiT: r = 2.6); η follows the Trainer's schedule
    epoch e = 0, 1, 2, ...:       gradual unfreezing: groups g > G - 1 - e train, the rest are frozen
                                  (the head alone first, then one group more per epoch)

A frozen parameter (``requires_grad`` False) gets no gradient, so the optimizer leaves it, and its
moments, untouched.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from torch import nn

from .callbacks import Callback


def discriminative_groups(layers: Sequence[Sequence[nn.Parameter]], decay: float) -> list[dict]:
    """Parameter groups ``{"params", "lr_scale": decay^-(G - g)}`` of ``layers`` (bottom first) for the
    Trainer's ``param_groups``; ``decay`` = 1 gives every group the schedule's lr."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 1.0 <= decay < math.inf:
        raise ValueError(f"decay: expected a finite number >= 1, got {decay!r}")
    top = len(layers) - 1
    return [{"params": list(params), "lr_scale": float(decay) ** -(top - g)} for g, params in enumerate(layers)]


class GradualUnfreezing(Callback):
    """Trains the top ``e + 1`` of ``layers`` (bottom first) in epoch ``e``; everything again after fit.

    Arguments:
        layers: the parameter lists of the layer groups, bottom first.
    """

    def __init__(self, layers: Sequence[Sequence[nn.Parameter]]):
        if not layers:
            raise ValueError("layers: expected at least one layer group, got none")
        self.layers = [list(params) for params in layers]

    def on_epoch_begin(self, trainer: Any, logs: dict) -> None:
        frozen = len(self.layers) - 1 - logs["epoch"]                       # groups 0 .. frozen-1 stay fixed
        for g, params in enumerate(self.layers):
            for p in params:
                p.requires_grad_(g >= frozen)

    def on_train_end(self, trainer: Any, logs: dict) -> None:
        for params in self.layers:
            for p in params:
                p.requires_grad_(True)
