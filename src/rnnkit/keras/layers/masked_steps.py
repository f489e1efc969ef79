"""Keras' mask semantics for recurrent layers, mapped onto rnnkit's time loop.

Keras masks are per step ``(B, T)``. At a masked step the state is carried unchanged and the output
is the previous step's output (zeros before the first step), or zero with ``zero_output_for_mask``.
``go_backwards`` processes the whole sequence (padding included) from the last step and returns the
outputs in that processing order.

Two routes:

- right padding (every row ``True`` for its first ``len >= 1`` steps, then ``False``): the steps go
  to the rnnkit layers as ``lengths``, and :func:`keras_order` turns rnnkit's outputs (zero at padding,
  input order) into Keras' sequence;
- any other mask, and user cells: :class:`MaskedSteps` is a step cell for ``rnnkit.RNN`` that reads
  the mask bit appended to each input step and applies Keras' rule itself.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...recurrent.loop import reverse_padded, valid_mask


def right_padding_lengths(mask: torch.Tensor) -> torch.Tensor | None:
    """``lengths (B,)`` when ``mask (B, T)`` is right padding with every length >= 1, else None."""
    lengths = mask.sum(dim=1)
    if int(lengths.min()) < 1 or not bool((mask == valid_mask(lengths, mask.shape[1])).all()):
        return None
    return lengths


def keras_order(y: torch.Tensor, lengths: torch.Tensor, go_backwards: bool, zero_output: bool) -> torch.Tensor:
    """Keras' output sequence from rnnkit's ``y (B, T, R)`` run on the valid steps (reversed if go_backwards).

    Forward: padded steps repeat the last valid output, or are zero with ``zero_output``.
    go_backwards: Keras met the padding first, so it leads with zeros: ``flip(reverse_padded(y))``.
    """
    if go_backwards:
        return reverse_padded(y, lengths).flip(1)
    if zero_output:
        return y
    last = y.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, y.shape[2]))     # (B, 1, R)
    return torch.where(valid_mask(lengths, y.shape[1])[..., None], y, last)


class MaskedSteps(nn.Module):
    """A step cell for ``rnnkit.RNN``: Keras cells stepped together under a per-step mask.

    Input step: ``[x_t, m_t] (B, I + 1)``, ``m_t`` 1.0 where the step is valid. State:
    ``(cell_states, previous_output)`` with ``cell_states`` one Keras state list per cell.
    ``y_t = cells(x_t)`` where valid, else the previous output (or zero with ``zero_output``).
    """

    def __init__(self, cells: list[nn.Module], input_size: int, zero_output: bool):
        super().__init__()
        self.cells = nn.ModuleList(cells)
        self.input_size = input_size + 1
        self.zero_output = zero_output

    def forward(self, step: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        x_t, valid = step[:, :-1], step[:, -1:] > 0.5                                # (B, I), (B, 1)
        cell_states, previous_output = state
        output, new_states = x_t, []
        for cell, cell_state in zip(self.cells, cell_states):
            options = {"training": cell.training} if "training" in cell.call_parameters() else {}
            output, new = cell.call(output, list(cell_state), **options)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            new_states.append(tuple(torch.where(valid, n, s) for n, s in zip(new, cell_state)))
        held = torch.zeros_like(output) if self.zero_output else previous_output
        output = torch.where(valid, output, held)                                    # (B, R)
        return output, (tuple(new_states), output)
