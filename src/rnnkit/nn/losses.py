"""What a task model's ``loss(batch, state=None)`` returns to the training engine, and the activation penalties
AR and TAR that a task adds to its loss."""
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


def activation_penalty(h: torch.Tensor, alpha: float) -> torch.Tensor:
    """Activation regularisation (AR, Merity et al. 2017): ``alpha · mean(h_t²)`` over every element.

    Arguments:
        h: ``(B, T, R)``, in AWD-LSTM the last layer's outputs after (locked) dropout.
        alpha: the weight α >= 0.
    Returns:
        a scalar tensor.
    """
    return alpha * h.pow(2).mean()


def temporal_activation_penalty(h: torch.Tensor, beta: float) -> torch.Tensor:
    """Temporal activation regularisation (TAR, Merity et al. 2017): ``beta · mean((h_t - h_{t-1})²)``.

    Arguments:
        h: ``(B, T, R)``, batch first, in AWD-LSTM the last layer's outputs before dropout; T >= 2
            (a single step has no difference: the penalty is 0).
        beta: the weight β >= 0.
    Returns:
        a scalar tensor, the mean over the ``B · (T - 1) · R`` differences.
    """
    if h.shape[1] < 2:
        return h.new_zeros(())
    return beta * (h[:, 1:] - h[:, :-1]).pow(2).mean()
