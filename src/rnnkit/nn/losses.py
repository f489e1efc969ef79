"""What a task model's ``loss(batch, state=None)`` returns to the training engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class LossOutput:
    """The loss of one batch.

    Attributes:
        loss: scalar tensor, the mean over ``count`` units (tokens, sequences, ...); backpropagated.
        count: how many units the mean is over (weights running averages; tokens/s counts these).
        state: recurrent state to carry into the next chunk of the same streams (truncated BPTT);
            the trainer detaches it. None for independent batches.
        metrics: extra per-batch figures (already averaged over ``count``), e.g. accuracy.
    """

    loss: torch.Tensor
    count: int
    state: Any = None
    metrics: dict[str, float] = field(default_factory=dict)
