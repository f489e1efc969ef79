"""Keras' reshaping layers ``RepeatVector`` and ``Reshape`` (the batch dimension is never touched)."""
from __future__ import annotations

from typing import Any

import torch

from .base import Layer


class RepeatVector(Layer):
    """``(B, F) -> (B, n, F)``: the vector repeated ``n`` times (a 1 -> N model's per-step input)."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive integer, got {n!r}")
        self.n = n

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 2:
            raise ValueError(f"{self.name}: expected inputs of shape (B, F), got {tuple(inputs.shape)}")
        return inputs[:, None, :].expand(-1, self.n, -1)                          # (B, n, F)

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config


class Reshape(Layer):
    """``(B, ...) -> (B, *target_shape)``; one entry of ``target_shape`` may be -1 (inferred)."""

    def __init__(self, target_shape: Any, **kwargs: Any):
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if not all(isinstance(s, int) and not isinstance(s, bool) and (s > 0 or s == -1) for s in shape) \
                or shape.count(-1) > 1:
            raise ValueError(f"target_shape: expected positive integers and at most one -1, got {target_shape!r}")
        self.target_shape = shape

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        try:
            return inputs.reshape(inputs.shape[0], *self.target_shape)
        except RuntimeError:
            raise ValueError(f"{self.name}: cannot reshape inputs of shape {tuple(inputs.shape)} to "
                             f"(batch, *{self.target_shape})") from None

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
