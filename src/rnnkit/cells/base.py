"""What every built-in cell shares: parameter creation, the gate projection, state helpers.

A cell computes one time step, ``cell(x_t, state) -> (y_t, new_state)``, and splits it in
two so the time loop can batch the input half over the whole sequence:

    x_proj = cell.project_input(x)              # (..., I) -> (..., G*H), one GEMM for all t
    y_t, state = cell.step(x_proj_t, state)     # the recurrent half, once per step
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks

LAYER_NORM_EPS = 1e-5


def layer_norm_blocks(z: torch.Tensor, block_size: int) -> torch.Tensor:
    """LNb: normalises each block of ``block_size`` columns of each row on its own.

    ``z (..., G*H) -> (..., G*H)``; ``(z - mean) / sqrt(var + 1e-5)`` per block, biased variance,
    no affine part (the caller scales by its ``ln_*_weight`` and shifts by its biases).
    """
    blocks = z.unflatten(-1, (-1, block_size))  # (..., G, H)
    return F.layer_norm(blocks, (block_size,), eps=LAYER_NORM_EPS).flatten(-2)


def gate_projection(inp: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    ln_weight: torch.Tensor | None, block_size: int) -> torch.Tensor:
    """``inp weight^T + bias``, or ``LNb(inp weight^T) * ln_weight + bias`` with layer norm.

    inp (..., K), weight (G*H, K), bias (G*H) or None, ln_weight (G*H) or None -> (..., G*H).
    """
    if ln_weight is None:
        return F.linear(inp, weight, bias)
    z = layer_norm_blocks(F.linear(inp, weight), block_size) * ln_weight
    return z if bias is None else z + bias


def map_state(fn: Callable[..., torch.Tensor], *states: Any) -> Any:
    """Applies ``fn`` leaf-wise to one or more states of the same structure.

    A state is a tensor or a (named) tuple of tensors, e.g. ``LSTMState(h, c)``.
    """
    first = states[0]
    if isinstance(first, torch.Tensor):
        return fn(*states)
    leaves = [map_state(fn, *parts) for parts in zip(*states)]
    return type(first)(*leaves) if hasattr(first, "_fields") else type(first)(leaves)


def state_leaves(state: Any) -> list[torch.Tensor]:
    """The tensors of a state in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [leaf for part in state for leaf in state_leaves(part)]


class RecurrentCell(nn.Module):
    """Base of the built-in cells: ``G`` gates of ``hidden_size`` units each.

    Subclasses create their parameters in ``__init__`` (vectors with :meth:`_vector`), say the size of
    each state tensor in ``state_size`` and implement ``step``. Parameters use PyTorch's names:
    ``weight_ih (G*H, I)``, ``weight_hh (G*H, R)``, ``bias_ih (G*H)``, ``bias_hh (G*H)``; with layer norm
    also ``ln_ih_weight``/``ln_hh_weight (G*H)``. ``device`` and ``dtype`` are the parameters', as in
    ``torch.nn`` (``device="meta"`` creates no storage; ``to_empty`` then ``reset_parameters`` fill it).
    """

    num_gates: int = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, layer_norm: bool,
                 recurrent_size: int | None = None, *, device=None, dtype=None):
        super().__init__()
        self.input_size = _checks.check_size(input_size, "input_size")
        self.hidden_size = _checks.check_size(hidden_size, "hidden_size")
        self.bias = _checks.check_flag(bias, "bias")
        self.layer_norm = _checks.check_flag(layer_norm, "layer_norm")
        factory = _checks.check_factory(device, dtype)
        recurrent_size = self.hidden_size if recurrent_size is None else recurrent_size
        gates = self.num_gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, self.input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gates, recurrent_size, **factory))
        self.bias_ih = self._vector(gates, self.bias)
        self.bias_hh = self._vector(gates, self.bias)
        self.ln_ih_weight = self._vector(gates, self.layer_norm)
        self.ln_hh_weight = self._vector(gates, self.layer_norm)

    def _vector(self, size: int, present: bool) -> nn.Parameter | None:
        """A new parameter ``(size,)`` on ``weight_ih``'s device and dtype (set by reset_parameters), or None."""
        return nn.Parameter(self.weight_ih.new_empty(size)) if present else None

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)); layer-norm gains 1."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, param in self.named_parameters(recurse=False):
            if name.startswith("ln_") and name.endswith("weight"):
                nn.init.ones_(param)
            elif name.startswith("ln_"):
                nn.init.zeros_(param)
            else:
                nn.init.uniform_(param, -bound, bound)

    @property
    def output_size(self) -> int:
        """Size of ``y_t`` (and of ``h``)."""
        return self.weight_hh.shape[1]

    @property
    def state_size(self) -> Any:
        """The size of each state tensor, in the state's structure: ``H``, or ``LSTMState(h=R, c=H)``.

        Built-in cells define it; for a subclass that defines ``init_state`` instead it is read off that.
        """
        if type(self).init_state is RecurrentCell.init_state:
            raise NotImplementedError(f"{type(self).__name__}: define state_size or init_state")
        return map_state(lambda s: s.shape[-1], self.init_state(1, device="meta"))

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input half of every gate pre-activation: ``(..., I) -> (..., G*H)``.

        ``x weight_ih^T + bias_ih``, or ``LNb(x weight_ih^T) * ln_ih_weight + bias_ih`` with layer norm.
        """
        return gate_projection(x, self.weight_ih, self.bias_ih, self.ln_ih_weight, self.hidden_size)

    def project_hidden(self, h: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """The recurrent half for the gate rows ``rows``: ``h weight_hh[rows]^T + bias_hh[rows]`` (LN likewise)."""
        bias = None if self.bias_hh is None else self.bias_hh[rows]
        ln_weight = None if self.ln_hh_weight is None else self.ln_hh_weight[rows]
        return gate_projection(h, self.weight_hh[rows], bias, ln_weight, self.hidden_size)

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> Any:
        """The zero state for ``batch_size`` rows, on the parameters' device and dtype by default."""
        sizes = self.state_size
        if isinstance(sizes, int):
            return self._zeros(batch_size, sizes, device, dtype)
        return type(sizes)(*(self._zeros(batch_size, size, device, dtype) for size in sizes))

    def step(self, x_proj: torch.Tensor, state: Any, recurrent_mask: torch.Tensor | None = None):
        """One step from the projected input ``x_proj (B, G*H)``; returns ``(y_t, new_state)``."""
        raise NotImplementedError

    def check_state(self, state: Any, batch: int, name: str = "state") -> Any:
        """Returns ``state`` in this cell's structure for ``batch`` rows (a tuple or list ``(h, c)``
        becomes an ``LSTMState``), its shapes, dtype and device checked; raises ValueError otherwise."""
        return conform_state(state, self.state_size, (batch,), name, self.weight_ih)

    def forward(self, x_t: torch.Tensor, state: Any = None, recurrent_mask: torch.Tensor | None = None):
        """One time step. Arguments: ``x_t (B, I)``, ``state`` (None: zeros). Returns ``(y_t, new_state)``.

        Raises:
            ValueError: ``x_t`` or ``state`` of another shape, structure, dtype or device than the
                parameters'; NaN or Inf in them when the value checks are on (``rnnkit.set_checks``).
        """
        batch = _checks.check_step_input(x_t, self.input_size, self.weight_ih)
        if state is None:
            state = self.init_state(batch, device=x_t.device, dtype=x_t.dtype)
        else:
            state = self.check_state(state, batch)
        return self.step_input(x_t, state, recurrent_mask)

    def step_input(self, x_t: torch.Tensor, state: Any, recurrent_mask: torch.Tensor | None = None):
        """One step from the raw input ``x_t (B, I)`` and a validated state: ``step(project_input(x_t), state)``."""
        return self.step(self.project_input(x_t), state, recurrent_mask)

    def _zeros(self, batch_size: int, size: int, device, dtype) -> torch.Tensor:
        return torch.zeros(batch_size, size, device=device or self.weight_ih.device,
                           dtype=dtype or self.weight_ih.dtype)


def conform_state(state: Any, sizes: Any, leading: tuple[int, ...], name: str, like: torch.Tensor) -> Any:
    """``state`` in the structure of ``sizes`` (a cell's ``state_size``), each leaf checked.

    Arguments:
        sizes: an int (a tensor state) or a named tuple of ints (e.g. ``LSTMState(h=R, c=H)``); a plain
            tuple or list of as many tensors is converted to that named tuple.
        leading: the dimensions before each leaf's size: ``(B,)`` for a cell, ``(L*D, B)`` for a layer.
        like: a parameter; every leaf must have its device and dtype (or autocast's).
    Raises:
        ValueError: another structure, shape, dtype or device; NaN / Inf with the value checks on.
    """
    single = isinstance(sizes, int)
    if single != isinstance(state, torch.Tensor) or (
            not single and (not isinstance(state, (tuple, list)) or len(state) != len(sizes))):
        raise ValueError(f"{name}: expected {_layout(sizes, leading)}, got {_describe(state)}")
    if single:
        _checks.check_state_tensor(state, (*leading, sizes), name, like)
        return state
    for field, leaf, size in zip(sizes._fields, state, sizes):
        _checks.check_state_tensor(leaf, (*leading, size), f"{name}.{field}", like)
    return state if type(state) is type(sizes) else type(sizes)(*state)


def _layout(sizes: Any, leading: tuple[int, ...]) -> str:
    """``a tensor of shape (2, B, 4)`` or ``LSTMState(h (2, B, 4), c (2, B, 4))``: the batch size shown as B."""
    dims = "".join(f"{d}, " for d in leading[:-1])
    if isinstance(sizes, int):
        return f"a tensor of shape ({dims}B, {sizes})"
    inner = ", ".join(f"{field} ({dims}B, {size})" for field, size in zip(sizes._fields, sizes))
    return f"{type(sizes).__name__}({inner})"


def _describe(state: Any) -> str:
    if isinstance(state, torch.Tensor):
        return f"a tensor of shape {tuple(state.shape)}"
    if isinstance(state, (tuple, list)):
        inner = ", ".join(_describe(s) for s in state)
        return f"{type(state).__name__}({inner})"
    return type(state).__name__
