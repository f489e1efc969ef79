r"""Gradient flow through time: ``‖∂L_t/∂h_k‖`` for every ``k <= t`` and every layer.

A recurrent stack of L layers runs over ``x (B, T, I)``; a per-step loss ``ℓ_{b,t}`` (the loss the
model would have if it answered at step t) is read from the top layer's outputs::

    h_k^(l) = cell_l(h_k^(l-1), h_{k-1}^(l))             h_k^(0) = x_k, h_{-1}^(l) = 0
    L_t     = Σ_b ℓ_{b,t}
    G^(l)[t, k] = 1/B Σ_b ‖∂L_t / ∂h_{b,k}^(l)‖_2        k <= t   (0 for k > t)

Rows of a batch are independent, so ``∂L_t/∂h_{b,k} = ∂ℓ_{b,t}/∂h_{b,k}``: G is the mean
per-sequence gradient norm. The derivative is the total one, through every later step and layer;
within one layer it is the textbook product (Bengio et al. 1994; Pascanu et al. 2013)::

    ∂L_t/∂h_k = ∂L_t/∂h_t ∏_{j=k+1..t} ∂h_j/∂h_{j-1}

so in a simple RNN ``G[t, t-d]`` shrinks or grows like γ^d. For an LSTM, ``h`` is the output half of
the state ``(h, c)``; the gradient reaching ``h_k`` includes the path through the cell ``c``.

All T losses are backpropagated together: one batched vector-Jacobian pass
(``torch.autograd.grad(..., is_grads_batched=True)``) per chunk of rows t, through a graph that
keeps every ``h_k``. The cells run in evaluation mode (no dropout; zoneout at its expectation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..cells.base import state_leaves
from ..recurrent import RNN, RecurrentLayer
from ..recurrent.loop import run_sequence

StepLoss = Callable[[torch.Tensor], torch.Tensor]
CHUNK_ELEMENTS = 1 << 24


def layer_cells(layer: nn.Module) -> list[nn.Module]:
    """The cells of a unidirectional ``RecurrentLayer`` (bottom to top) or of an ``RNN(cell)``."""
    if isinstance(layer, RecurrentLayer):
        if layer.bidirectional:
            raise ValueError("layer: gradient flow through time is measured for unidirectional layers; "
                             "got bidirectional=True")
        return [layer.cell(k) for k in range(layer.num_layers)]
    if isinstance(layer, RNN):
        if layer.reverse:
            raise ValueError("layer: gradient flow through time is measured forward in time; got RNN(reverse=True)")
        return [layer.cell]
    raise ValueError(f"layer: expected an rnnkit SimpleRNN / LSTM / GRU or RNN, got {type(layer).__name__}")


@dataclass
class Unrolled:
    """A stack run step by step, every state kept in the autograd graph.

    Attributes:
        inputs: per layer, its input ``(B, T, I_l)``.
        states: per layer, per step, the full state after that step (a tensor, or ``LSTMState``).
        outputs: the top layer's outputs ``(B, T, R)``.
    """

    inputs: list[torch.Tensor]
    states: list[list[Any]]
    outputs: torch.Tensor

    def hidden(self, layer: int, step: int) -> torch.Tensor:
        """``h_step`` of ``layer`` (the first leaf of the state) ``(B, R)``."""
        return state_leaves(self.states[layer][step])[0]


def unroll(layer: nn.Module, x: torch.Tensor, initial: list[Any] | None = None,
           wrap: Callable[[nn.Module], nn.Module] | None = None) -> Unrolled:
    """Runs ``layer`` over ``x (B, T, I)`` one step at a time (evaluation mode), keeping every state.

    Each step is :func:`~rnnkit.recurrent.loop.run_sequence` over one time step, so every cell,
    built-in or user-defined, and the evaluation-mode zoneout behave as in the layer itself.

    Arguments:
        initial: one state per layer to start from (None: zeros), e.g. the last states of an earlier call.
        wrap: runs ``wrap(cell)`` in place of each cell (e.g. a copy that records its gates).
    """
    cells = layer_cells(layer)
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        raise ValueError(f"x: expected a (B, T, I) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if initial is not None and len(initial) != len(cells):
        raise ValueError(f"initial: expected one state per layer ({len(cells)}), got {len(initial)}")
    batch, time = x.shape[:2]
    zoneout = layer.zoneout
    inputs, states, layer_input = [], [], x
    for index, cell in enumerate(cells):
        state = cell.init_state(batch, device=x.device, dtype=x.dtype) if initial is None else initial[index]
        cell = cell if wrap is None else wrap(cell)
        steps, outputs = [], []
        for t in range(time):
            y, state = run_sequence(cell, layer_input[:, t:t + 1], state, zoneout=zoneout)  # (B, 1, R)
            steps.append(state)
            outputs.append(y)
        inputs.append(layer_input)
        states.append(steps)
        layer_input = torch.cat(outputs, dim=1)                                    # (B, T, R)
    return Unrolled(inputs, states, layer_input)


@dataclass
class GradientFlow:
    """``norms[l, t, k] = G^(l)[t, k]``, the mean per-sequence ``‖∂L_t/∂h_k‖`` (module docstring).

    Attributes:
        norms: ``(L, T, T)``, zero above the diagonal (k > t); NaN/Inf where the gradient is not finite.
    """

    norms: torch.Tensor

    @property
    def num_layers(self) -> int:
        return self.norms.shape[0]

    @property
    def length(self) -> int:
        return self.norms.shape[1]

    def by_lag(self, layer: int = 0) -> torch.Tensor:
        """``(T,)``: entry d is the mean over t >= d of ``G[t, t - d]``, the gradient d steps back."""
        T = self.length
        return torch.stack([self.norms[layer].diagonal(-d).mean() for d in range(T)])

    def relative_by_lag(self, layer: int = 0) -> torch.Tensor:
        """``(T,)``: :meth:`by_lag` divided by its lag-0 value (1 at d = 0)."""
        curve = self.by_lag(layer)
        return curve / curve[0]

    def is_finite(self) -> bool:
        return bool(torch.isfinite(self.norms).all())


def _chunk_rows(time: int, layers: int, batch: int, width: int) -> int:
    """How many rows t to backpropagate together, keeping the gradients near CHUNK_ELEMENTS numbers."""
    return max(1, min(time, CHUNK_ELEMENTS // max(1, layers * time * batch * width)))


def gradient_flow(layer: nn.Module, x: torch.Tensor, step_loss: StepLoss) -> GradientFlow:
    """``‖∂L_t/∂h_k‖`` for every ``k <= t`` and layer (see the module docstring).

    Arguments:
        layer: a unidirectional ``rnnkit.SimpleRNN / LSTM / GRU`` (any depth) or ``rnnkit.RNN(cell)``.
        x: ``(B, T, I)`` the layer's input.
        step_loss: maps the top layer's outputs ``(B, T, R)`` to per-step losses ``ℓ (B, T)``; row b's
            loss at t must depend on row b only.
    Returns:
        a :class:`GradientFlow` with ``norms (L, T, T)``.
    """
    with torch.enable_grad():
        run = unroll(layer, x)
        losses = step_loss(run.outputs)                                            # (B, T)
        batch, time = x.shape[:2]
        if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (batch, time):
            got = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(f"step_loss: expected per-step losses of shape ({batch}, {time}), got {got}")
        per_step = losses.sum(0)                                                   # (T,)
        hidden = [run.hidden(l, k) for l in range(len(run.states)) for k in range(time)]
        layers, width = len(run.states), hidden[0].shape[-1]
        norms = torch.zeros(layers, time, time, dtype=torch.float64)
        chunk = _chunk_rows(time, layers, batch, width)
        identity = torch.eye(time, dtype=per_step.dtype, device=per_step.device)    # (T, T)
        for begin in range(0, time, chunk):
            rows = slice(begin, min(time, begin + chunk))
            grads = torch.autograd.grad(per_step, hidden, grad_outputs=identity[rows], retain_graph=True,
                                        is_grads_batched=True, allow_unused=True, materialize_grads=True)
            for index, grad in enumerate(grads):                                   # grad (n, B, R)
                l, k = divmod(index, time)
                norms[l, rows, k] = grad.double().norm(dim=-1).mean(dim=-1).cpu()
    upper = torch.ones(time, time, dtype=torch.bool).triu(1)                       # k > t
    return GradientFlow(norms.masked_fill(upper, 0.0))
