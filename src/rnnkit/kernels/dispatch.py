"""Which path a layer runs, and why: torch's fused kernel, a BPTT kernel, or the autograd loop.

    fused          the configuration is one torch's fused RNN ops compute exactly (oneDNN on CPU,
                   cuDNN on GPU): standard gates and activations, no variant, no recurrent dropout
                   (in training) and no zoneout. LSTM ``proj_size`` and ``forget_bias`` qualify.
    bptt kernel    a built-in cell with named activations: whole-sequence kernels with the
                   hand-derived backward pass (rnnkit.kernels.lstm / gru / simple).
    autograd loop  anything else (user cells, cell subclasses, activation callables): the per-step
                   loop ``rnnkit.recurrent.loop.run_sequence``, always correct. Under torch.compile /
                   torch.export (and on the meta device) also in place of the BPTT kernels and of the
                   fused LSTM with lengths: it has no data-dependent Python control flow.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, NamedTuple, Sequence

import torch
from torch import nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells.activations import name_of

FUSED, BPTT, LOOP = "fused", "bptt kernel", "autograd loop"

_LOOP_ONLY = contextvars.ContextVar("rnnkit_loop_only", default=False)


class Path(NamedTuple):
    """``kind`` is FUSED, BPTT or LOOP; ``label`` the short text ``layer.fast_path`` shows."""

    kind: str
    label: str


@contextlib.contextmanager
def force_loop() -> Iterator[None]:
    """Within this block every layer runs the per-step autograd loop (to compare, or to take
    double derivatives, which the BPTT kernels do not support). Eager calls only: code traced by
    torch.compile / torch.export does not read it (the traced graph takes the loop in place of the
    BPTT kernels anyway)."""
    token = _LOOP_ONLY.set(True)
    try:
        yield
    finally:
        _LOOP_ONLY.reset(token)


def fused_op_name(cell: nn.Module) -> str:
    """The torch op computing a fusable cell: ``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu``."""
    if isinstance(cell, LSTMCell):
        return "lstm"
    if isinstance(cell, GRUCell):
        return "gru"
    return f"rnn_{name_of(cell.nonlinearity)}"


def bptt_reason(cell: nn.Module) -> str | None:
    """Why ``cell`` has no BPTT kernel, or None if it has one."""
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        kind = "cell subclass" if isinstance(cell, (SimpleRNNCell, LSTMCell, GRUCell)) else "user cell"
        return f"{kind} {type(cell).__name__}"
    for option in ("nonlinearity", "activation", "recurrent_activation"):
        if hasattr(cell, option) and name_of(getattr(cell, option)) is None:
            return f"user {option} callable"
    return None


def variant_options(cell: nn.Module) -> list[str]:
    """The options of a built-in cell that torch's fused ops do not compute (empty: fusable)."""
    if isinstance(cell, SimpleRNNCell):
        return [] if name_of(cell.nonlinearity) in ("tanh", "relu") else [f"nonlinearity={cell.nonlinearity!r}"]
    options = []
    if isinstance(cell, LSTMCell):
        options += [name for name in ("peephole", "coupled", "layer_norm") if getattr(cell, name)]
        if not cell.forget_gate:
            options.append("forget_gate=False")
    elif isinstance(cell, GRUCell):
        options += ["layer_norm"] if cell.layer_norm else []
        if not cell.reset_after:
            options.append("reset_after=False")
    if name_of(cell.activation) != "tanh":
        options.append(f"activation={cell.activation!r}")
    if name_of(cell.recurrent_activation) != "sigmoid":
        options.append(f"recurrent_activation={cell.recurrent_activation!r}")
    return options


def choose_path(cells: Sequence[nn.Module], *, recurrent_dropout: float = 0.0, zoneout: float = 0.0,
                training: bool = False, lengths: bool = False, symbolic: bool = False) -> Path:
    """The path for running ``cells`` (one layer's cells, all of one configuration).

    Arguments:
        cells: the cells of a layer (or the one cell of ``RNN(cell)``).
        recurrent_dropout: its rate; it changes the computation only in training.
        zoneout: its rate (evaluation uses the expectation, so it always counts).
        lengths: whether the call has lengths (some rows padded).
        symbolic: whether the input's values cannot be read (``rnnkit._checks.symbolic``: under
            torch.compile / torch.export, or on the meta device). The BPTT kernels, and the fused LSTM
            with lengths, decide on values in Python (the rows running at each step), so the loop,
            which masks instead, takes their place.
    Returns:
        the Path; its label names the kernel, or the reasons it is not fused.
    """
    if not torch.compiler.is_compiling() and _LOOP_ONLY.get():          # Dynamo cannot read a ContextVar
        return Path(LOOP, f"{LOOP} (kernels disabled by force_loop())")
    reasons = [reason for reason in map(bptt_reason, cells) if reason is not None]
    if reasons:
        return Path(LOOP, f"{LOOP} ({reasons[0]})")
    options = list(dict.fromkeys(option for cell in cells for option in variant_options(cell)))
    if recurrent_dropout and training:
        options.append("recurrent_dropout")
    if zoneout:
        options.append("zoneout")
    if symbolic and (options or (lengths and isinstance(cells[0], LSTMCell))):
        return Path(LOOP, f"{LOOP} (traced: {', '.join(options) or 'LSTM lengths'})")
    if options:
        return Path(BPTT, f"{BPTT} ({', '.join(options)})")
    return Path(FUSED, f"{FUSED} (torch.{fused_op_name(cells[0])})")
