"""What ``model.loss`` returns, checked before the trainer uses it."""
from __future__ import annotations

from typing import Any

import torch

from ..nn.losses import LossOutput


def checked(out: Any) -> LossOutput:
    """``out`` if it is a LossOutput with a scalar tensor loss and a positive int count, else ValueError."""
    loss = getattr(out, "loss", None)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise ValueError(f"model.loss: expected a LossOutput with a scalar tensor loss, got {type(out).__name__}"
                         + (f" with loss of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""))
    count = getattr(out, "count", None)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"model.loss: expected LossOutput.count to be a positive int, got {count!r}")
    return out


def floats(metrics: dict | None) -> dict[str, float]:
    """The metrics as python floats."""
    return {name: float(value) for name, value in (metrics or {}).items()}
