"""Regularisers that live on the time axis: variational recurrent dropout, locked dropout, zoneout,
and DropConnect on the recurrent weights."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import map_state


def recurrent_dropout_mask(h: torch.Tensor, p: float) -> torch.Tensor:
    """One mask per sequence (Gal & Ghahramani 2016): ``Bernoulli(1-p) / (1-p)``, shaped like ``h (B, R)``.

    The cell multiplies it into ``h_{t-1}`` wherever ``h_{t-1}`` meets ``weight_hh``, at every step.
    """
    return torch.empty_like(h).bernoulli_(1.0 - p).div_(1.0 - p)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Locked (variational) dropout on a sequence (Gal & Ghahramani 2016; AWD-LSTM's ``LockedDropout``).

    ``y_t = x_t * M / (1 - p)`` with one mask ``M ~ Bernoulli(1 - p)`` of shape ``(B, 1, F)`` per call,
    the same at every step t of a row and different across rows.

    Arguments:
        x: ``(B, T, F)``, batch first.
        p: the rate in [0, 1).
        training: False (or ``p = 0``) returns ``x`` itself.
    Returns:
        ``(B, T, F)``.
    """
    if not training or not p:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1.0 - p).div_(1.0 - p)   # (B, 1, F)
    return x * mask


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


@contextlib.contextmanager
def dropped_recurrent_weights(cells: Sequence[nn.Module], p: float) -> Iterator[None]:
    """DropConnect on ``weight_hh`` (Wan et al. 2013; AWD-LSTM's ``WeightDrop``) within the block.

    Each cell's ``weight_hh`` reads as ``W~ = M * W / (1 - p)``, ``M ~ Bernoulli(1 - p)`` elementwise
    (``F.dropout`` on the weight: the inverted convention, so ``E[W~] = W`` and evaluation uses ``W``).
    One mask per cell, drawn on entry in cell order, so every step of the call, and every path (torch's
    fused op, a BPTT kernel, the loop), sees the same matrix. The parameter stays registered as it is
    (``state_dict``, ``parameters()`` and the optimizer see ``W``); gradients flow through the mask to it:
    ``dL/dW = M / (1 - p) * dL/dW~``. ``p = 0`` changes nothing.
    """
    if not p:
        yield
        return
    for cell in cells:                     # the instance attribute shadows the registered parameter
        vars(cell)["weight_hh"] = F.dropout(cell.get_parameter("weight_hh"), p, training=True)   # (G*H, R)
    try:
        yield
    finally:
        for cell in cells:
            vars(cell).pop("weight_hh", None)
