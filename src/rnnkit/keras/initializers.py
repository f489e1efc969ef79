"""Keras 3 initializers: ``initializer(shape, dtype=None) -> torch.Tensor`` in Keras' layout.

Fans follow Keras: for a 2-d shape ``(fan_in, fan_out)``; for 1-d both are ``shape[0]``.
``VarianceScaling`` draws with ``σ² = scale / n`` (n = fan_in, fan_out or their mean); the
``truncated_normal`` draw is cut at ±2σ and its σ divided by 0.8796256610342398 (the standard
deviation of a unit normal truncated at ±2), as Keras does.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ._serial import Family

FAMILY = Family("initializer")
TRUNCATION_STD = 0.87962566103423978


def _generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` as Keras computes them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base: subclasses implement ``fill(tensor, generator)``; ``get_config`` lists the arguments."""

    seed: int | None = None

    def __call__(self, shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        tensor = torch.empty(tuple(shape), dtype=dtype or torch.get_default_dtype())
        with torch.no_grad():
            self.fill(tensor, _generator(self.seed))
        return tensor

    def fill(self, tensor: torch.Tensor, generator: torch.Generator | None) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


@FAMILY.register
class Zeros(Initializer):
    def fill(self, tensor, generator):
        tensor.zero_()


@FAMILY.register
class Ones(Initializer):
    def fill(self, tensor, generator):
        tensor.fill_(1.0)


@FAMILY.register
class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def fill(self, tensor, generator):
        tensor.fill_(self.value)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def fill(self, tensor, generator):
        tensor.normal_(self.mean, self.stddev, generator=generator)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def fill(self, tensor, generator):
        tensor.uniform_(self.minval, self.maxval, generator=generator)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


FAMILY.register(RandomNormal, "normal")
FAMILY.register(RandomUniform, "uniform")


@FAMILY.register
class TruncatedNormal(Initializer):
    """Normal(mean, stddev) redrawn outside ``mean ± 2 stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def fill(self, tensor, generator):
        torch.nn.init.trunc_normal_(tensor, self.mean, self.stddev, self.mean - 2 * self.stddev,
                                    self.mean + 2 * self.stddev, generator=generator)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@FAMILY.register
class VarianceScaling(Initializer):
    """``σ² = scale / n`` with n from ``mode``; ``distribution`` truncated_normal, untruncated_normal or uniform."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None):
        if mode not in self.MODES:
            raise ValueError(f"mode: expected one of {self.MODES}, got {mode!r}")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {self.DISTRIBUTIONS}, got {distribution!r}")
        if not scale > 0:
            raise ValueError(f"scale: expected a positive number, got {scale!r}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def fill(self, tensor, generator):
        fan_in, fan_out = compute_fans(tuple(tensor.shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            tensor.uniform_(-limit, limit, generator=generator)
        elif self.distribution == "truncated_normal":
            std = math.sqrt(variance) / TRUNCATION_STD
            torch.nn.init.trunc_normal_(tensor, 0.0, std, -2 * std, 2 * std, generator=generator)
        else:
            tensor.normal_(0.0, math.sqrt(variance), generator=generator)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed: int | None = None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__module__": __name__,
                                          "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, "
                                                     f"distribution={distribution!r})."})
    return FAMILY.register(cls)


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


@FAMILY.register
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain`` (rows orthonormal when rows < columns)."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = gain, seed

    def fill(self, tensor, generator):
        if tensor.dim() < 2:
            raise ValueError(f"initializer: Orthogonal needs a shape of rank >= 2, got {tuple(tensor.shape)}")
        torch.nn.init.orthogonal_(tensor, self.gain, generator=generator)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@FAMILY.register
class Identity(Initializer):
    """``gain`` times the identity (2-d shapes)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def fill(self, tensor, generator):
        if tensor.dim() != 2:
            raise ValueError(f"initializer: Identity needs a 2-d shape, got {tuple(tensor.shape)}")
        torch.nn.init.eye_(tensor).mul_(self.gain)

    def get_config(self):
        return {"gain": self.gain}


def get(identifier: Any, argument: str = "initializer") -> Any:
    """An initializer from a name (``"glorot_uniform"``, ``"GlorotUniform"``), config dict, instance or callable."""
    if identifier is None:
        raise ValueError(f"{argument}: expected an initializer, got None")
    return FAMILY.get(identifier, argument)


def serialize(initializer: Any, argument: str = "initializer") -> dict | None:
    return FAMILY.serialize(initializer, argument)
