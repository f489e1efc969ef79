r"""Dropout that keeps its mask along an axis: locked (variational) dropout over time and embedding dropout.

Both as in AWD-LSTM (Merity et al. 2017), after Gal & Ghahramani (2016), with the inverted scaling of
``torch.nn.Dropout`` (survivors divided by ``1 - p``, so evaluation is the identity)::

    locked:     y_{b,t,f} = x_{b,t,f} · m_{b,f} / (1 - p)        m ~ Bernoulli(1 - p), one per row and feature
    embedding:  e_{b,t}   = E[w_{b,t}] · m_{w_{b,t}} / (1 - p)   m ~ Bernoulli(1 - p), one per token id
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks
from ..recurrent.regularization import locked_dropout


class LockedDropout(nn.Module):
    """One dropout mask per sequence, the same at every step (between layers, on the output).

    Arguments:
        p: the rate in [0, 1).

    ``forward(x (B, T, F)) -> (B, T, F)``: in training ``x * M / (1 - p)``, ``M (B, 1, F)`` broadcast over T;
    in evaluation ``x``.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = _checks.check_probability(p, "p")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return locked_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(nn.Module):
    """Drops whole rows of an embedding matrix: every occurrence of a dropped token is zero together.

    Arguments:
        p: the rate in [0, 1).

    ``forward(weight (K, E), ids (...)) -> (..., E)``: in training ``F.embedding(ids, weight * m / (1 - p))``
    with ``m (K, 1)`` one Bernoulli(1 - p) draw per token id and call; in evaluation ``F.embedding(ids, weight)``.
    Gradients reach only the rows kept (scaled by ``1 / (1 - p)``).
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = _checks.check_probability(p, "p")

    def forward(self, weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if self.training and self.p:
            mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1.0 - self.p).div_(1.0 - self.p)   # (K, 1)
            weight = weight * mask                                                  # (K, E)
        return F.embedding(ids, weight)                                             # (..., E)

    def extra_repr(self) -> str:
        return f"p={self.p}"
