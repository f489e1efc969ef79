"""Input validation shared by every layer: clear ``ValueError`` messages, never a deep traceback.

Each message names the argument, the shape (or value) received and the one expected.
This module imports nothing of rnnkit, so every package may use it.
"""
from __future__ import annotations

from typing import Sequence

import torch


def check_sequence(x: torch.Tensor, feature_size: int, batch_first: bool, name: str = "x") -> tuple[int, int]:
    """Checks a sequence batch and returns ``(batch, time)``.

    Arguments:
        x: ``(B, T, F)`` if ``batch_first`` else ``(T, B, F)``.
        feature_size: the expected F.
    Raises:
        ValueError: not a tensor, wrong rank, wrong F, an empty time axis, or NaN inside.
    """
    layout = "(B, T, F)" if batch_first else "(T, B, F)"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"{name}: expected a 3-d tensor of shape {layout} with F={feature_size}, "
            f"got shape {tuple(x.shape)}")
    if x.shape[-1] != feature_size:
        raise ValueError(
            f"{name}: expected feature size F={feature_size} in shape {layout}, got shape {tuple(x.shape)}")
    batch, time = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    if time == 0 or batch == 0:
        raise ValueError(f"{name}: expected a non-empty batch and time axis {layout}, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return batch, time


def check_step_input(x_t: torch.Tensor, feature_size: int, name: str = "x_t") -> int:
    """Checks one time step ``x_t (B, F)`` and returns B."""
    if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2 or x_t.shape[-1] != feature_size:
        got = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
        raise ValueError(f"{name}: expected shape (B, {feature_size}), got {got}")
    return x_t.shape[0]


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raises ValueError if ``x`` holds NaN (infinities are the caller's business)."""
    if x.is_floating_point() and bool(torch.isnan(x).any()):
        raise ValueError(f"{name}: contains NaN (shape {tuple(x.shape)})")


def check_lengths(lengths, batch: int, time: int, device: torch.device) -> torch.Tensor | None:
    """Validates ``lengths (B,)`` with ``1 <= lengths[b] <= T``; returns a LongTensor on ``device``.

    Returns None when every row is full (``lengths`` all equal T), so callers skip masking.
    """
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError) as err:
            raise ValueError(f"lengths: expected a sequence of B={batch} integers, got {lengths!r}") from err
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per row), got shape {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected integers, got dtype {lengths.dtype}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > time:
        raise ValueError(f"lengths: expected every length in [1, T={time}], got min {lo} and max {hi}")
    if lo == time:
        return None
    return lengths.to(device=device, dtype=torch.long)


def check_state_tensor(h: torch.Tensor, expected: Sequence[int], name: str) -> None:
    """Checks one state tensor against its expected shape and for NaN."""
    if not isinstance(h, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {tuple(expected)}, got {type(h).__name__}")
    if tuple(h.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got shape {tuple(h.shape)}")
    check_finite(h, name)


def check_probability(p: float, name: str) -> float:
    """Checks a dropout / zoneout rate in [0, 1)."""
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name}: expected a rate in [0, 1), got {p!r}")
    return float(p)
