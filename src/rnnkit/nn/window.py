r"""Graves' soft window: a location-based attention that slides monotonically along a sequence (Graves 2013, sec. 5.1).

From the hidden vector ``h_t`` of the writer's first layer, K Gaussian bumps over the positions
u = 0 .. U-1 of the conditioning sequence ``c_1 .. c_U``:

    (α̂_t, β̂_t, κ̂_t) = W h_t + b                              (3K,)
    α_t = exp(α̂_t)   β_t = exp(β̂_t)   κ_t = κ_{t-1} + exp(κ̂_t)      κ_0 = 0: the window only moves on
    φ(t, u) = Σ_k α_t^k exp(-β_t^k (κ_t^k - u)²)                 zero at padded positions u >= U_b
    w_t = Σ_u φ(t, u) c_u                                        (D,)

Here ``κ̂_t`` depends on ``h_t`` only, so all steps of a sequence are computed at once (``κ`` is a
cumulative sum); the carried ``κ_{t-1}`` continues a sequence one step at a time when writing.
"""
from __future__ import annotations

import torch
from torch import nn


class GravesWindow(nn.Module):
    """The window of the module docstring.

    Arguments:
        input_size: the size of ``h_t``.  bumps: K.

    Parameters: ``linear.weight (3K, input_size)``, ``linear.bias (3K)``.
    """

    def __init__(self, input_size: int, bumps: int = 10):
        super().__init__()
        self.bumps = bumps
        self.linear = nn.Linear(input_size, 3 * bumps)

    def forward(self, h: torch.Tensor, c: torch.Tensor, c_lengths: torch.Tensor,
                kappa: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(w (B, T, D), φ (B, T, U), κ_T (B, K))`` for hidden vectors ``h (B, T, H)``, the sequence
        ``c (B, U, D)`` with ``c_lengths (B,)`` valid positions, and the previous ``κ (B, K)`` (default 0)."""
        alpha, beta, kappa_step = self.linear(h).exp().chunk(3, dim=-1)            # (B, T, K) each
        start = torch.zeros_like(kappa_step[:, 0]) if kappa is None else kappa     # (B, K)
        kappa_t = start[:, None, :] + kappa_step.cumsum(1)                         # (B, T, K)
        u = torch.arange(c.shape[1], device=c.device, dtype=h.dtype)               # (U,)
        bumps = alpha[..., None] * torch.exp(-beta[..., None] * (kappa_t[..., None] - u) ** 2)   # (B, T, K, U)
        valid = u[None, :] < c_lengths.to(c.device)[:, None]                       # (B, U)
        phi = bumps.sum(2) * valid[:, None, :]                                     # (B, T, U)
        return phi @ c, phi, kappa_t[:, -1]                                        # (B, T, D)
