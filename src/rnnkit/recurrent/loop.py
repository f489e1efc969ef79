"""The one time loop: ``RNN(cell)`` runs any cell over a padded batch of sequences.

    for t in 0..T-1:   y_t, s_t = cell(x_t, s_{t-1})
                       (padded step: s_t = s_{t-1}, y_t = 0)

Built-in cells take the faster whole-sequence paths of ``rnnkit.kernels`` (torch's fused op or a
BPTT kernel, which compute the same); ``run_sequence`` below stays the always-correct reference.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from .. import _checks, kernels
from ..cells.base import RecurrentCell, map_state, state_leaves
from ..kernels.timeline import reverse_padded, valid_mask
from . import regularization


def run_sequence(cell: nn.Module, x: torch.Tensor, state: Any, lengths: torch.Tensor | None = None, *,
                 recurrent_mask: torch.Tensor | None = None, zoneout: float = 0.0,
                 training: bool = False) -> tuple[torch.Tensor, Any]:
    """Runs ``cell`` over ``x (B, T, I)`` from ``state``; inputs are already validated.

    Built-in cells get their input projection for all steps in one GEMM. Returns
    ``(y (B, T, R), final_state)``; with ``lengths`` the final state is each row's state at its
    last valid step and ``y`` is zero at padded steps.
    """
    time = x.shape[1]
    extra = {} if recurrent_mask is None else {"recurrent_mask": recurrent_mask}
    if isinstance(cell, RecurrentCell):
        inputs = cell.project_input(x)                                            # (B, T, G*H)

        def step(inp, s):
            return cell.step(inp, s, **extra)
    else:
        inputs = x

        def step(inp, s):
            return cell(inp, s, **extra)
    valid = None if lengths is None else valid_mask(lengths, time)               # (B, T)
    outputs = []
    for t in range(time):
        y_t, new_state = step(inputs[:, t], state)
        if zoneout:
            new_state = regularization.zoneout(state, new_state, zoneout, training)
            y_t = state_leaves(new_state)[0]
        if valid is not None:
            keep = valid[:, t, None]                                              # (B, 1)
            new_state = map_state(lambda new, old: torch.where(keep, new, old), new_state, state)
            y_t = y_t.masked_fill(~keep, 0.0)
        outputs.append(y_t)
        state = new_state
    return torch.stack(outputs, dim=1), state


def run_direction(cell: nn.Module, x: torch.Tensor, state: Any, lengths: torch.Tensor | None, *,
                  reverse: bool = False, recurrent_dropout: float = 0.0, zoneout: float = 0.0,
                  training: bool = False, path: str = kernels.LOOP) -> tuple[torch.Tensor, Any]:
    """:func:`run_sequence` in one direction with the regularisers drawn for this call.

    ``reverse`` runs each row's valid steps last to first and returns outputs in input order.
    In training, ``recurrent_dropout`` draws one mask for the whole sequence. ``path`` (a kind of
    :func:`rnnkit.kernels.choose_path`) runs the cell through torch's fused op or its BPTT kernel
    instead of the per-step loop.
    """
    mask = None
    if training and recurrent_dropout:
        mask = regularization.recurrent_dropout_mask(state_leaves(state)[0], recurrent_dropout)
    if reverse:
        x = reverse_padded(x, lengths)
    y, final = _RUNNERS[path](cell, x, state, lengths, recurrent_mask=mask, zoneout=zoneout, training=training)
    return (reverse_padded(y, lengths) if reverse else y), final


def _run_fused_cell(cell: RecurrentCell, x: torch.Tensor, state: Any, lengths: torch.Tensor | None, *,
                    recurrent_mask: None, zoneout: float, training: bool) -> tuple[torch.Tensor, Any]:
    """One fusable cell through torch's fused op (no mask and no zoneout on this path)."""
    stacked = map_state(lambda s: s.unsqueeze(0), state)                        # (1, B, .)
    y, final = kernels.run_fused([cell], x, stacked, lengths, num_layers=1, bidirectional=False, dropout=0.0,
                                 training=training)
    return y, map_state(lambda s: s.squeeze(0), final)


_RUNNERS = {kernels.FUSED: _run_fused_cell, kernels.BPTT: kernels.run_cell, kernels.LOOP: run_sequence}


def accepts_recurrent_mask(cell: nn.Module) -> bool:
    """True for built-in cells and user cells whose forward takes ``recurrent_mask``."""
    if isinstance(cell, RecurrentCell):
        return True
    return "recurrent_mask" in inspect.signature(cell.forward).parameters


class RNN(nn.Module):
    """Runs a cell over sequences: the time loop of rnnkit (``fast_path`` says whether a built-in cell
    runs through torch's fused op, a BPTT kernel or this loop).

    Arguments:
        cell: any module ``cell(x_t, state) -> (y_t, new_state)``; built-in cells or user cells.
            User cells need ``init_state(batch_size)`` unless a state is always passed, and
            ``input_size`` for the feature check.
        reverse: run from the last valid step to the first (padding-aware; outputs in input order).
        batch_first: ``x (B, T, I)`` if True, else ``(T, B, I)``.
        recurrent_dropout: variational dropout rate on ``h_{t-1}`` (one mask per sequence).
        zoneout: zoneout rate on every state tensor.

    ``forward(x, state=None, lengths=None) -> (outputs (B, T, R), final_state)``; ``lengths (B,)``
    marks right padding: outputs are zero there and the final state is taken at each row's last
    valid step. Stateful use: feed ``final_state`` back as ``state``.
    """

    def __init__(self, cell: nn.Module, reverse: bool = False, batch_first: bool = True,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0):
        super().__init__()
        self.cell = cell
        self.reverse = _checks.check_flag(reverse, "reverse")
        self.batch_first = _checks.check_flag(batch_first, "batch_first")
        self.recurrent_dropout = _checks.check_probability(recurrent_dropout, "recurrent_dropout")
        self.zoneout = _checks.check_probability(zoneout, "zoneout")
        if self.recurrent_dropout and not accepts_recurrent_mask(cell):
            raise ValueError(f"recurrent_dropout: cell {type(cell).__name__} does not accept a "
                             "'recurrent_mask' argument in forward()")

    def forward(self, x: torch.Tensor, state: Any = None, lengths=None) -> tuple[torch.Tensor, Any]:
        input_size = getattr(self.cell, "input_size", None)
        builtin = isinstance(self.cell, RecurrentCell)
        batch, time = _checks.check_sequence(x, input_size if input_size is not None else x.shape[-1],
                                             self.batch_first, self.cell.weight_ih if builtin else None)
        if not self.batch_first:
            x = x.transpose(0, 1)
        lengths = _checks.check_lengths(lengths, batch, time, x.device)
        state = self._initial_state(state, batch, x)
        outputs, final = run_direction(self.cell, x, state, lengths, reverse=self.reverse,
                                       recurrent_dropout=self.recurrent_dropout, zoneout=self.zoneout,
                                       training=self.training, path=self._path(lengths is not None,
                                                                               _checks.symbolic(x)).kind)
        return (outputs if self.batch_first else outputs.transpose(0, 1)), final

    @property
    def fast_path(self) -> str:
        """Which path ``forward`` runs now and, if not fused, why: e.g. ``"fused (torch.lstm)"``,
        ``"bptt kernel (peephole)"``, ``"autograd loop (user cell MyCell)"``."""
        return self._path().label

    def _path(self, lengths: bool = False, symbolic: bool = False) -> kernels.Path:
        return kernels.choose_path([self.cell], recurrent_dropout=self.recurrent_dropout, zoneout=self.zoneout,
                                   training=self.training, lengths=lengths, symbolic=symbolic)

    def _initial_state(self, state: Any, batch: int, x: torch.Tensor) -> Any:
        """The checked state (built-in cells: in the cell's structure), or the cell's zeros for None."""
        if state is None:
            if not hasattr(self.cell, "init_state"):
                raise ValueError(f"state: cell {type(self.cell).__name__} has no init_state(); pass a state")
            return self.cell.init_state(batch, device=x.device, dtype=x.dtype)
        if isinstance(self.cell, RecurrentCell):
            return self.cell.check_state(state, batch)
        if hasattr(self.cell, "check_state"):
            self.cell.check_state(state, batch)
        return state

    def extra_repr(self) -> str:
        options = {"reverse": self.reverse, "batch_first": self.batch_first,
                   "recurrent_dropout": self.recurrent_dropout, "zoneout": self.zoneout}
        defaults = {"reverse": False, "batch_first": True, "recurrent_dropout": 0.0, "zoneout": 0.0}
        return ", ".join(f"{k}={v!r}" for k, v in options.items() if v != defaults[k])
