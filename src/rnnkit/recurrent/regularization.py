"""Regularisers that live on the time axis: variational recurrent dropout and zoneout."""
from __future__ import annotations

from typing import Any

import torch

from ..cells.base import map_state


def recurrent_dropout_mask(h: torch.Tensor, p: float) -> torch.Tensor:
    """One mask per sequence (Gal & Ghahramani 2016): ``Bernoulli(1-p) / (1-p)``, shaped like ``h (B, R)``.

    The cell multiplies it into ``h_{t-1}`` wherever ``h_{t-1}`` meets ``weight_hh``, at every step.
    """
    return torch.empty_like(h).bernoulli_(1.0 - p).div_(1.0 - p)


def zoneout(state_prev: Any, state_new: Any, p: float, training: bool) -> Any:
    """Zoneout (Krueger et al. 2017): each unit keeps its previous value with probability p.

    ``s_t = d * s_{t-1} + (1 - d) * s~_t`` for every state tensor (LSTM: h and c, independent masks),
    ``d ~ Bernoulli(p)`` per step and unit in training, ``d = p`` in evaluation.
    """
    def blend(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        if old.dtype != new.dtype:                                     # under autocast: the wider of the two
            dtype = torch.promote_types(old.dtype, new.dtype)
            old, new = old.to(dtype), new.to(dtype)
        d = torch.empty_like(new).bernoulli_(p) if training else p
        return torch.lerp(new, old, d)                                 # new + d * (old - new)
    return map_state(blend, state_prev, state_new)
