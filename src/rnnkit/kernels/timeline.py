"""Which rows of a batch take part in each time step, for the BPTT kernels.

The kernels see the batch sorted by length, longest first (as packed sequences are), so the
rows still running at step t are the first ``batch_sizes[t]`` ones and padding costs nothing:
a finished row is simply not computed any more, which carries its state unchanged, and its
output rows stay at the zeros the output buffer starts with. Running backward, a row joins
at its last valid step, where the gradient of the final state enters.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from . import scratch


class Timeline:
    """Steps ``0..T-1`` of a batch of ``B`` rows, the first ``batch_sizes[t]`` of them active at step t.

    Arguments:
        time: T.  batch: B.
        batch_sizes: non-increasing active-row counts per step, or None (every row every step).
    """

    def __init__(self, time: int, batch: int, batch_sizes: Sequence[int] | None = None):
        self.time, self.batch = time, batch
        self.padded = batch_sizes is not None
        self.batch_sizes = list(batch_sizes) if batch_sizes is not None else [batch] * time

    def forward_steps(self) -> Iterator[tuple[int, int]]:
        """``(t, active_rows)`` for t = 0 .. T-1."""
        return zip(range(self.time), self.batch_sizes)

    def backward_steps(self) -> Iterator[tuple[int, int, int]]:
        """``(t, active_rows, joining_from)`` for t = T-1 .. 0: rows ``joining_from:active_rows``
        have their last valid step at t (all active rows at t = T-1)."""
        later = 0
        for t in range(self.time - 1, -1, -1):
            rows = self.batch_sizes[t]
            yield t, rows, later
            later = rows

    def last_steps(self, device) -> torch.Tensor:
        """``(B,)`` each row's last valid step (the rows are sorted, so row b is active while b < batch_sizes[t])."""
        sizes = torch.tensor(self.batch_sizes, device=device)                 # (T,)
        rows = torch.arange(self.batch, device=device)
        return (sizes[None, :] > rows[:, None]).sum(1) - 1                     # (B,)

    def final(self, states: torch.Tensor) -> torch.Tensor:
        """``(B, .)`` the state each row ended with, from ``states (T, B, .)`` (a copy, not a view)."""
        if not self.padded:
            return states[-1].clone()
        rows = torch.arange(self.batch, device=states.device)
        return states[self.last_steps(states.device), rows]

    def buffer(self, like: torch.Tensor, *shape: int) -> torch.Tensor:
        """A per-step buffer: zeros when padded (inactive rows must read 0), else uninitialised."""
        if self.padded:
            return like.new_zeros(shape)
        return like.new_empty(shape)

    def scratch(self, like: torch.Tensor, *shape: int) -> torch.Tensor:
        """``buffer`` for a kernel's own tensors (never a forward's output): reused between calls on CPU
        (:mod:`.scratch`)."""
        return scratch.empty(like, *shape, zero=self.padded)


def sort_by_length(lengths: torch.Tensor, time: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Orders rows by length, longest first (stable).

    Arguments:
        lengths: ``(B,)`` valid steps per row, 1 <= lengths[b] <= T.
    Returns:
        ``(order (B,), sorted_lengths (B,), batch_sizes)`` with ``x[order]`` the sorted batch and
        ``batch_sizes[t]`` the number of rows with ``length > t`` (a host list: one device sync).
    """
    sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
    steps = torch.arange(time, device=lengths.device)
    batch_sizes = (sorted_lengths[None, :] > steps[:, None]).sum(1).tolist()    # (T,)
    return order, sorted_lengths, batch_sizes


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverses the first ``lengths[b]`` steps of each row of ``x (B, T, ...)``; padding stays at the end.

    ``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``, else ``x[b, t]``. Its own inverse.
    """
    if lengths is None:
        return x.flip(1)
    time = torch.arange(x.shape[1], device=x.device)                              # (T,)
    last = lengths.to(x.device)[:, None] - 1                                      # (B, 1)
    index = torch.where(time <= last, last - time, time)                          # (B, T)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def valid_mask(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """``(B, T)`` booleans, True at ``t < lengths[b]``."""
    return torch.arange(time, device=lengths.device)[None, :] < lengths[:, None]
