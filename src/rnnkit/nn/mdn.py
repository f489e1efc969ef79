r"""A mixture density output for pen offsets (Bishop 1994; Graves 2013, sec. 4.1).

From a hidden vector ``h`` a linear layer gives, for M components and P pen states,

    ŷ = W h + b = (π̂, μx, μy, σ̂x, σ̂y, ρ̂, q̂)        6M + P outputs
    π = softmax(π̂)    σ = exp(σ̂)    ρ = tanh(ρ̂)    q = softmax(q̂)

and the density of the next offset (x, y) and pen state p is

    P(x, y, p) = q_p · Σ_k π_k N(x, y | μ_k, σ_k, ρ_k)
    N = 1 / (2π σx σy √(1-ρ²)) · exp(-Z / (2 (1-ρ²))),
    Z = zx² + zy² - 2ρ zx zy,   zx = (x - μx) / σx,   zy = (y - μy) / σy.

The loss is ``-log P`` in its numerically stable form: ``log π = log_softmax(π̂)``,
``log σ = σ̂`` (never ``log(exp(.))``), ``log(1-ρ²) = 2 (log 2 - |ρ̂| - softplus(-2|ρ̂|))``
(finite where ``1 - tanh²`` rounds to 0), and ``log Σ_k`` by log-sum-exp.

Sampling at a temperature τ (Ha & Eck 2017): ``π ∝ exp(π̂ / τ)``, ``σ → σ √τ``, ``q ∝ exp(q̂ / τ)``;
τ → 0 approaches the most likely component's mean, τ = 1 is the model's distribution.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class MixtureParams(NamedTuple):
    """The head's outputs before their nonlinearities, ``(...)`` any leading shape.

    Attributes:
        logit_pi: ``(..., M)`` π̂.  mu: ``(..., M, 2)`` (μx, μy).  log_sigma: ``(..., M, 2)`` (σ̂x, σ̂y).
        rho_logit: ``(..., M)`` ρ̂.  pen_logits: ``(..., P)`` q̂.
    """

    logit_pi: torch.Tensor
    mu: torch.Tensor
    log_sigma: torch.Tensor
    rho_logit: torch.Tensor
    pen_logits: torch.Tensor


class MixtureDensity(nn.Module):
    """The linear layer ``ŷ = W h + b`` split into :class:`MixtureParams` (module docstring).

    Arguments:
        input_size: the size of ``h``.  mixtures: M.  pen_states: P.

    Parameters: ``linear.weight (6M + P, input_size)``, ``linear.bias (6M + P)``.
    """

    def __init__(self, input_size: int, mixtures: int, pen_states: int = 3):
        super().__init__()
        self.mixtures, self.pen_states = mixtures, pen_states
        self.linear = nn.Linear(input_size, 6 * mixtures + pen_states)

    def forward(self, h: torch.Tensor) -> MixtureParams:
        """:class:`MixtureParams` of ``h (..., input_size)``."""
        return split_params(self.linear(h), self.mixtures)


def split_params(y: torch.Tensor, mixtures: int) -> MixtureParams:
    """Cuts ``ŷ (..., 6M + P)`` into :class:`MixtureParams` (order: π̂, μx, μy, σ̂x, σ̂y, ρ̂, q̂)."""
    m = mixtures
    logit_pi, mu_x, mu_y, s_x, s_y, rho, pen = y.split([m, m, m, m, m, m, y.shape[-1] - 6 * m], dim=-1)
    return MixtureParams(logit_pi, torch.stack([mu_x, mu_y], -1), torch.stack([s_x, s_y], -1), rho, pen)


def log_one_minus_rho2(rho_logit: torch.Tensor) -> torch.Tensor:
    """``log(1 - tanh²(ρ̂)) = 2 (log 2 - |ρ̂| - softplus(-2|ρ̂|))``, finite for every ρ̂."""
    a = rho_logit.abs()
    return 2.0 * (math.log(2.0) - a - F.softplus(-2.0 * a))


def offset_log_density(params: MixtureParams, xy: torch.Tensor) -> torch.Tensor:
    """``log Σ_k π_k N(x, y | k)`` of offsets ``xy (..., 2)``; returns ``(...)``."""
    log_pi = params.logit_pi.log_softmax(-1)                                       # (..., M)
    z = (xy.unsqueeze(-2) - params.mu) * torch.exp(-params.log_sigma)              # (..., M, 2)  zx, zy
    rho = torch.tanh(params.rho_logit)                                             # (..., M)
    log_1mr2 = log_one_minus_rho2(params.rho_logit)                                # (..., M)
    big_z = z.square().sum(-1) - 2.0 * rho * z[..., 0] * z[..., 1]                 # (..., M)
    log_n = -LOG_2PI - params.log_sigma.sum(-1) - 0.5 * log_1mr2 - 0.5 * big_z * torch.exp(-log_1mr2)
    return torch.logsumexp(log_pi + log_n, dim=-1)                                 # (...)


def point_nll(params: MixtureParams, xy: torch.Tensor, pen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(-log Σ_k π_k N(x, y | k), -log q_p)``, each ``(...)``, of offsets ``xy (..., 2)`` and pen
    states ``pen (...)``."""
    offsets = -offset_log_density(params, xy)
    pens = F.cross_entropy(params.pen_logits.reshape(-1, params.pen_logits.shape[-1]), pen.reshape(-1),
                           reduction="none").reshape(pen.shape)
    return offsets, pens


def sample(params: MixtureParams, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One draw per row at ``temperature`` τ (module docstring): ``(xy (..., 2), pen (...))``.

    A component k ~ π(τ), then ``x = μx + σx ε1``, ``y = μy + σy (ρ ε1 + √(1-ρ²) ε2)`` with
    ``σ = exp(σ̂) √τ`` and ``ε ~ N(0, I)``; the pen state p ~ q(τ).
    """
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    shape = params.logit_pi.shape[:-1]
    flat = MixtureParams(*(p.reshape(-1, *p.shape[len(shape):]) for p in params))
    n = flat.logit_pi.shape[0]
    k = torch.multinomial((flat.logit_pi / temperature).softmax(-1), 1, generator=generator)[:, 0]    # (n,)
    rows = torch.arange(n, device=k.device)
    mu, log_sigma, rho = flat.mu[rows, k], flat.log_sigma[rows, k], torch.tanh(flat.rho_logit[rows, k])
    sigma = torch.exp(log_sigma) * math.sqrt(temperature)                                              # (n, 2)
    eps = torch.randn(n, 2, generator=generator, dtype=mu.dtype, device=mu.device)                    # (n, 2)
    x = mu[:, 0] + sigma[:, 0] * eps[:, 0]
    y = mu[:, 1] + sigma[:, 1] * (rho * eps[:, 0] + torch.sqrt(1 - rho ** 2) * eps[:, 1])
    pen = torch.multinomial((flat.pen_logits / temperature).softmax(-1), 1, generator=generator)[:, 0]
    return torch.stack([x, y], -1).reshape(*shape, 2), pen.reshape(shape)
