r"""Token streams cut into chunks for truncated backpropagation through time (char-rnn style).

A corpus is one long stream of token ids. :class:`StreamBatches` splits it into ``batch_size``
contiguous rows (row b continues exactly where it left off in the previous batch) and walks along
the rows in chunks, so the recurrent state at the end of one batch is the right initial state for
the next batch of the same rows. The trainer carries that state (``carry_state = True``) and
detaches it, which truncates the gradient at the chunk boundary.

Truncated BPTT(k1, k2) (Williams & Peng 1990): every k1 steps, backpropagate k2 >= k1 steps.
With ``seq_len = k1`` and ``bptt = k2``:

* k2 == k1 (the default): batch j holds steps ``[j*k1, (j+1)*k1)`` of every row; the loss is taken
  on all of them and the state after the last step is carried into batch j+1.
* k2 > k1: batch j holds the window ``[s, (j+1)*k1)`` with ``s = max(0, j*k1 - (k2-k1))``: the
  ``loss_from = j*k1 - s`` first steps re-run steps of the previous window as context (no loss
  there; gradients still flow through them) and the loss covers the k1 new steps, so every
  loss reaches back at least k2-k1+1 and at most k2 steps. The carried state must be the state at
  the start of the *next* window, which is ``state_at`` steps into this one: the model returns
  its state after ``state_at`` steps of ``x`` (``state_at = x.shape[1]`` when k2 == k1).
  This re-runs k2-k1 overlapping steps per batch instead of keeping a buffer of old activations.

Targets are the next tokens: ``y[b, t] = ids[row_start_b + t + 1]``. The stream's tail that does
not fill every row is dropped (at most ``batch_size`` tokens); the last chunk may be shorter than k1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class Batch:
    """One chunk of B parallel streams.

    Attributes:
        x: ``(B, T)`` input token ids.
        y: ``(B, T)`` target ids, the next token of each input.
        loss_from: the loss covers ``y[:, loss_from:]``; earlier steps are context only.
        state_at: the state to carry out is the one after ``x[:, :state_at]`` (T unless k2 > k1;
            0 means the state passed in is carried on unchanged).
    """

    x: torch.Tensor
    y: torch.Tensor
    loss_from: int = 0
    state_at: int | None = None

    def __post_init__(self):
        if self.state_at is None:
            self.state_at = self.x.shape[1]

    @property
    def count(self) -> int:
        """How many targets carry a loss: ``B * (T - loss_from)``."""
        return self.y.shape[0] * (self.y.shape[1] - self.loss_from)

    def to(self, device: torch.device | str) -> "Batch":
        """The same batch with ``x`` and ``y`` on ``device``."""
        return Batch(self.x.to(device, non_blocking=True), self.y.to(device, non_blocking=True),
                     self.loss_from, self.state_at)


class StreamBatches:
    """Re-iterable batches of a token stream for truncated BPTT (see the module docstring).

    Arguments:
        ids: ``(N,)`` LongTensor, the whole stream.
        batch_size: B rows, each a contiguous piece of ``(N - 1) // B`` tokens.
        seq_len: k1, the steps between state carries (and the new steps each batch adds).
        bptt: k2 >= k1, the steps each batch backpropagates through; None means k1.

    Iterating yields :class:`Batch` objects in stream order; ``len()`` is the number of batches.
    ``carry_state`` tells the trainer to pass each batch's final state into the next one.
    """

    carry_state = True

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int, *, bptt: int | None = None):
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
            got = (f"{ids.dtype} tensor of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
                   else type(ids).__name__)
            raise ValueError(f"ids: expected a 1-d LongTensor (N,), got {got}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        bptt = seq_len if bptt is None else bptt
        if not isinstance(bptt, int) or isinstance(bptt, bool) or bptt < seq_len:
            raise ValueError(f"bptt: expected an integer k2 >= seq_len={seq_len}, got {bptt!r}")
        row_len = (ids.numel() - 1) // batch_size
        if row_len < 1:
            raise ValueError(f"ids: a stream of {ids.numel()} tokens cannot fill batch_size={batch_size} rows "
                             f"(each needs an input and its next token); expected at least {batch_size + 1} tokens")
        self._set_rows(ids[: batch_size * row_len].reshape(batch_size, row_len),            # (B, L)
                       ids[1: batch_size * row_len + 1].reshape(batch_size, row_len),        # (B, L)
                       seq_len, bptt)

    def _set_rows(self, inputs: torch.Tensor, targets: torch.Tensor, seq_len: int, bptt: int) -> None:
        self._inputs, self._targets = inputs, targets
        self.batch_size, self.seq_len, self.bptt = inputs.shape[0], seq_len, bptt

    @property
    def row_len(self) -> int:
        """L: the steps of each row."""
        return self._inputs.shape[1]

    def __len__(self) -> int:
        return -(-self.row_len // self.seq_len)

    def __iter__(self) -> Iterator[Batch]:
        k1, context = self.seq_len, self.bptt - self.seq_len
        for begin in range(0, self.row_len, k1):
            end = min(begin + k1, self.row_len)
            start = max(0, begin - context)
            next_start = max(0, end - context)
            yield Batch(self._inputs[:, start:end], self._targets[:, start:end],            # (B, T) each
                        loss_from=begin - start, state_at=next_start - start)

    def shard(self, rank: int, world_size: int) -> "StreamBatches":
        """The rows of replica ``rank`` out of ``world_size`` (each gets ``B // world_size`` rows).

        The rows are split, not the batches, so every replica walks its own streams in order and
        carries its own state; rows beyond ``world_size * (B // world_size)`` are dropped.
        """
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank!r}")
        rows = self.batch_size // world_size
        if rows < 1:
            raise ValueError(f"world_size: expected at most batch_size={self.batch_size} replicas, got {world_size}")
        shard = object.__new__(StreamBatches)
        rows_of_rank = slice(rank * rows, (rank + 1) * rows)
        shard._set_rows(self._inputs[rows_of_rank], self._targets[rows_of_rank], self.seq_len, self.bptt)
        return shard
