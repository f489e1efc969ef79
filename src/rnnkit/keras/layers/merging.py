"""Keras' merge layers ``Concatenate`` and ``Add``: one output from a list of inputs.

Masks as in Keras 3: ``Add`` keeps the OR of the inputs' masks when every input has one (else
none); ``Concatenate`` ORs them too, reading an unmasked input as all valid.
"""
from __future__ import annotations

from typing import Any

import torch

from .base import Layer


def _inputs(layer: Layer, inputs: Any) -> list[torch.Tensor]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"{layer.name}: expected a list of at least 2 tensors, got {type(inputs).__name__}")
    return list(inputs)


class Add(Layer):
    """``y = x_1 + x_2 + ...`` (shapes broadcast as in ``keras.ops.add``)."""

    supports_masking = True

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        tensors = _inputs(self, inputs)
        total = tensors[0]
        for x in tensors[1:]:
            total = total + x
        return total

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        if mask is None or any(m is None for m in mask):
            return None
        combined = mask[0]
        for m in mask[1:]:
            combined = combined | m
        return combined


class Concatenate(Layer):
    """The inputs joined along ``axis`` (default the last); the other dimensions must agree."""

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis: expected an integer, got {axis!r}")
        self.axis = axis

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        tensors = _inputs(self, inputs)
        axis = self.axis % tensors[0].dim()
        shapes = [tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:]) for x in tensors]
        if len({len(x.shape) for x in tensors}) != 1 or len(set(shapes)) != 1:
            raise ValueError(f"{self.name}: expected inputs whose shapes agree except on axis {self.axis}, "
                             f"got {[tuple(x.shape) for x in tensors]}")
        return torch.cat(tensors, dim=axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        if mask is None or all(m is None for m in mask):
            return None
        full = [torch.ones_like(x, dtype=torch.bool) if m is None else
                (m[..., None].expand(x.shape) if m.dim() < x.dim() else m) for x, m in zip(inputs, mask)]
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
