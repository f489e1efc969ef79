"""Evaluation: the loss and metrics of a model over data, weighted by the units each batch counts."""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch import nn

from .metrics import Meter
from .outputs import checked, floats
from .rng import get_rng_state, set_rng_state
from .tree import to_device


def evaluate_batches(model: nn.Module, batches: Any, *, carry: bool, device: torch.device,
                     autocast: Callable[[], contextlib.AbstractContextManager],
                     all_reduce: Callable[[list[float]], list[float]] | None = None) -> tuple[dict[str, float], float]:
    """Runs ``model.loss`` over ``batches`` in eval mode without gradients.

    The RNG states and the train/eval mode are left as they were.

    Arguments:
        model: the task model.
        batches: the (sharded) data.
        carry: pass each batch's returned state into the next (streams).
        device: where the batches go.
        autocast: the precision context of each forward.
        all_reduce: sums across replicas (None: this process only).
    Returns:
        ``({"loss": ..., metric: ...}, units)``: means weighted by each batch's count, and the units counted.
    """
    rng, training = get_rng_state(), model.training
    meter, state = Meter(), None
    model.eval()
    try:
        with torch.no_grad(), autocast():
            for batch in batches:
                out = checked(model.loss(to_device(batch, device), state=state))
                meter.add(float(out.loss), out.count, floats(out.metrics))
                state = out.state if carry else None
    finally:
        model.train(training)
        set_rng_state(rng)
    return meter.summary(all_reduce)
