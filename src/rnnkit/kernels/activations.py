"""The named activations as the BPTT kernels need them: written into a buffer (or in place),
and differentiated from the output.

Every derivative is written in terms of the value ``y = f(z)`` so that the kernels save only the
activated gates (docs/cells.md, table of activations)::

    tanh           f' = 1 - y^2
    sigmoid        f' = y (1 - y)
    hard_sigmoid   f' = 1/6 where 0 < y < 1 (that is -3 < z < 3), else 0
    relu           f' = 1 where y > 0, else 0
    linear         f' = 1
    softsign       f' = 1 / (1 + |z|)^2 = (1 - |y|)^2
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


class KernelActivation(NamedTuple):
    """``into(z, out)`` writes f(z) into ``out`` (which may be z itself) and returns it;
    ``derivative(y)`` is f'(z) computed from y = f(z)."""

    into: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]


def _hard_sigmoid_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    if out is not z:
        out.copy_(z)
    return F.hardsigmoid(out, inplace=True)                 # relu6(z + 3) / 6, as the cells


def _linear_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return out if out is z else out.copy_(z)


def _softsign_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.div(z, z.abs().add_(1.0), out=out)         # z / (1 + |z|)


def _hard_sigmoid_derivative(y: torch.Tensor) -> torch.Tensor:
    return ((y > 0) & (y < 1)).to(y.dtype).mul_(1.0 / 6.0)


KERNEL_ACTIVATIONS: dict[str, KernelActivation] = {
    "tanh": KernelActivation(lambda z, out: torch.tanh(z, out=out),
                             lambda y: torch.addcmul(torch.ones_like(y), y, y, value=-1.0)),
    "sigmoid": KernelActivation(lambda z, out: torch.sigmoid(z, out=out),
                                lambda y: torch.addcmul(y, y, y, value=-1.0)),
    "hard_sigmoid": KernelActivation(_hard_sigmoid_into, _hard_sigmoid_derivative),
    "relu": KernelActivation(lambda z, out: torch.clamp_min(z, 0.0, out=out), lambda y: (y > 0).to(y.dtype)),
    "linear": KernelActivation(_linear_into, torch.ones_like),
    "softsign": KernelActivation(_softsign_into, lambda y: torch.square(1.0 - y.abs())),
}
