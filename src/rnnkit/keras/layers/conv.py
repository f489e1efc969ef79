"""Keras' convolutions ``Conv1D`` and ``Conv2D`` and their pooling: ``MaxPooling2D``, ``GlobalAveragePooling2D``.

The kernels keep Keras' layout (``Conv1D (k, in / groups, filters)``, ``Conv2D (kh, kw, in / groups,
filters)``), so their Keras weights are their parameters; the call runs ``torch.nn.functional.conv1d /
conv2d`` on the channels-first view. Padding as Keras 3 computes it on every backend:

    valid:   no padding
    same:    out = ceil(n / s); total = max((out - 1) s + (k - 1) d + 1 - n, 0) (stride 1: (k - 1) d),
             total // 2 before, the rest after (zeros for convolutions, -inf for max pooling)
    causal:  (Conv1D) (k - 1) d zeros before the sequence, none after
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .base import Layer
from .core import KernelLayer

DATA_FORMATS = ("channels_last", "channels_first")


def _tuple(value: Any, rank: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of ``rank`` positive ints as a tuple (Keras' ``standardize_tuple``)."""
    values = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{name}: expected a positive integer or {rank} of them, got {value!r}")
    return values


def _choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    value = value.lower() if isinstance(value, str) else value
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` of Keras' ``"same"`` padding along one axis (module docstring)."""
    span = (kernel - 1) * dilation + 1
    total = span - 1 if stride == 1 else max(0, (-(-size // stride) - 1) * stride + span - size)
    return total // 2, total - total // 2


def _pad(x: torch.Tensor, pads: list[tuple[int, int]], value: float) -> torch.Tensor:
    """Pads the spatial axes of channels-first ``x`` by ``pads`` (one (before, after) per axis, in order)."""
    flat = [amount for pair in reversed(pads) for amount in pair]
    return F.pad(x, flat, value=value) if any(flat) else x


def _channels_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.movedim(-1, 1) if data_format == "channels_last" else x


def _channels_back(y: torch.Tensor, data_format: str) -> torch.Tensor:
    return y.movedim(1, -1) if data_format == "channels_last" else y


class _Conv(KernelLayer):
    """Shared body of Conv1D / Conv2D: ``y = activation(conv(x, kernel) + bias)`` (module docstring); the
    kernel and bias arguments are :class:`~rnnkit.keras.layers.core.KernelLayer`'s."""

    rank = 0
    paddings = ("valid", "same")

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1, groups: int = 1, activation: Any = None,
                 use_bias: bool = True, **kwargs: Any):
        super().__init__(activation, use_bias, **kwargs)
        for name, value in (("filters", filters), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if filters % groups:
            raise ValueError(f"filters: expected a multiple of groups={groups}, got {filters}")
        self.filters, self.groups = filters, groups
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"strides: strides > 1 cannot be combined with dilation_rate > 1, got "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.padding = _choice(padding, self.paddings, "padding")
        self.data_format = _choice(data_format or "channels_last", DATA_FORMATS, "data_format")

    def build(self, input_shape: Any) -> None:
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if len(input_shape) != self.rank + 2 or channels is None or channels % self.groups:
            raise ValueError(f"{self.name}: expected inputs of rank {self.rank + 2} whose channels are a multiple "
                             f"of groups={self.groups}, got shape {tuple(input_shape)}")
        self.add_kernel_and_bias((*self.kernel_size, channels // self.groups, self.filters), self.filters)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = _channels_first(inputs.to(self.kernel.dtype), self.data_format)       # (B, C, *spatial)
        if x.dim() != self.rank + 2 or x.shape[1] != self.kernel.shape[-2] * self.groups:
            raise ValueError(f"{self.name}: expected inputs with {self.kernel.shape[-2] * self.groups} channels "
                             f"({self.data_format}), got shape {tuple(inputs.shape)}")
        x = _pad(x, self._pads(x.shape[2:]), 0.0)
        weight = self.kernel.permute(-1, -2, *range(self.rank))                    # (filters, C / groups, *k)
        conv = F.conv1d if self.rank == 1 else F.conv2d
        y = conv(x, weight, self.bias if self.use_bias else None, self.strides, 0, self.dilation_rate, self.groups)
        return self.activation(_channels_back(y, self.data_format))

    def _pads(self, spatial: torch.Size) -> list[tuple[int, int]]:
        if self.padding == "same":
            return [same_padding(n, k, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        if self.padding == "causal":
            return [((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)]
        return [(0, 0)] * self.rank

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding, data_format=self.data_format, dilation_rate=list(self.dilation_rate),
                      groups=self.groups)
        return config


class Conv1D(_Conv):
    """1-d convolution over time, ``(B, T, C) -> (B, T', filters)`` (channels_last); Keras 3's arguments,
    ``padding`` ``"valid"``, ``"same"`` or ``"causal"``. Kernel ``(kernel_size, C / groups, filters)``."""

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-d convolution, ``(B, H, W, C) -> (B, H', W', filters)`` (channels_last); Keras 3's arguments.
    Kernel ``(kh, kw, C / groups, filters)``."""

    rank = 2


class MaxPooling2D(Layer):
    """The maximum of each ``pool_size`` window, ``(B, H, W, C) -> (B, H', W', C)``.

    Arguments (Keras 3's): pool_size=(2, 2), strides=None (= pool_size), padding="valid" or "same",
    data_format=None (channels_last).
    """

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.pool_size = _tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple(strides, 2, "strides")
        self.padding = _choice(padding, ("valid", "same"), "padding")
        self.data_format = _choice(data_format or "channels_last", DATA_FORMATS, "data_format")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = _channels_first(inputs, self.data_format)                              # (B, C, H, W)
        if self.padding == "same":
            x = _pad(x, [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], self.pool_size, self.strides)],
                     float("-inf"))
        return _channels_back(F.max_pool2d(x, self.pool_size, self.strides), self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding,
                      data_format=self.data_format)
        return config


class GlobalAveragePooling2D(Layer):
    """The mean over height and width: ``(B, H, W, C) -> (B, C)`` (``keepdims=True``: ``(B, 1, 1, C)``)."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = _choice(data_format or "channels_last", DATA_FORMATS, "data_format")
        self.keepdims = bool(keepdims)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config
