r"""The recurrence itself: Jacobian products through time and the spectra of ``weight_hh``.

Within one layer, with its inputs held fixed, the state ``s_j`` (``h_j``; for an LSTM ``(h_j, c_j)``)
depends on ``s_{j-1}`` alone, and the gradient d steps back is carried by the product

    P_d = ∂s_{T-1}/∂s_{T-1-d} = ∏_{j=T-d..T-1} ∂s_j/∂s_{j-1}        (P_0 = I)

For a simple RNN ``∂h_j/∂h_{j-1} = diag(f'(a_j)) W_hh``, so ``‖P_d‖ <= (γ σ_max(W_hh))^d`` with
γ = max |f'| (1 for tanh): the gradient vanishes if ``σ_max(W_hh) < 1/γ`` (Pascanu et al. 2013), and
the spectral radius ρ(W_hh) > 1 is necessary for it to explode. LSTM and GRU gate blocks
``W_hi, W_hf, W_hg, W_ho`` / ``W_hr, W_hz, W_hn`` get the same figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells.base import map_state, state_leaves
from ..recurrent.loop import run_sequence
from .flow import layer_cells, unroll


def _flatten(state: Any) -> torch.Tensor:
    """``(B, D)``: the state's leaves side by side."""
    return torch.cat(state_leaves(state), dim=-1)


def _unflatten(flat: torch.Tensor, template: Any) -> Any:
    """The inverse of :func:`_flatten` for states shaped like ``template``."""
    parts = iter(flat.split([leaf.shape[-1] for leaf in state_leaves(template)], dim=-1))
    return map_state(lambda leaf: next(parts), template)


def step_jacobian(cell: nn.Module, x_t: torch.Tensor, state: Any, zoneout: float = 0.0) -> torch.Tensor:
    """``∂s_t/∂s_{t-1}`` per row: ``(B, D, D)`` for a state of D numbers (D = H; LSTM: R + H).

    Arguments:
        cell: the cell.  x_t: ``(B, I)`` the step's input.  state: ``s_{t-1}``.
        zoneout: the layer's zoneout rate (evaluation mode: the expectation).
    """
    with torch.enable_grad():
        s_prev = _flatten(state).detach().requires_grad_(True)                     # (B, D)
        _, new_state = run_sequence(cell, x_t.detach()[:, None], _unflatten(s_prev, state), zoneout=zoneout)
        s_new = _flatten(new_state)                                                # (B, D)
        width = s_new.shape[-1]
        basis = torch.eye(width, dtype=s_new.dtype, device=s_new.device)[:, None].expand(width, *s_new.shape)
        rows = torch.autograd.grad(s_new, s_prev, grad_outputs=basis, is_grads_batched=True)[0]  # (D, B, D)
    return rows.transpose(0, 1)                                                    # (B, D_out, D_in)


def jacobian_norms(layer: nn.Module, x: torch.Tensor, max_rows: int = 8) -> torch.Tensor:
    """Spectral norms ``‖P_d‖_2`` of the Jacobian products, per layer and lag d (module docstring).

    Arguments:
        layer: a unidirectional ``rnnkit.SimpleRNN / LSTM / GRU`` or ``RNN(cell)``.
        x: ``(B, T, I)``; only the first ``max_rows`` rows are used (each costs T SVDs of D x D).
    Returns:
        ``(L, T)`` float64: entry ``[l, d]`` is the mean over rows of ``‖∂s_{T-1}/∂s_{T-1-d}‖_2``.
    """
    x = x[:max_rows]
    with torch.no_grad():
        run = unroll(layer, x)
    time = x.shape[1]
    norms = torch.zeros(len(run.states), time, dtype=torch.float64)
    for l, cell in enumerate(layer_cells(layer)):
        product = None
        for d in range(time):
            if product is None:
                product = torch.eye(_flatten(run.states[l][-1]).shape[-1], dtype=torch.float64,
                                    device=x.device).expand(x.shape[0], -1, -1)  # (B, D, D)
            else:
                j = time - d                                                       # the step s_j <- s_{j-1}
                jac = step_jacobian(cell, run.inputs[l][:, j], run.states[l][j - 1], layer.zoneout)
                product = product @ jac.double()                                   # (B, D, D)
            finite = bool(torch.isfinite(product).all())
            norms[l, d] = torch.linalg.matrix_norm(product, ord=2).mean().cpu() if finite else float("nan")
    return norms


@dataclass(frozen=True)
class Spectrum:
    """The spectral radius ``ρ = max |λ|`` and norm ``σ_max`` of one recurrent weight block.

    Attributes:
        layer: the layer index.  block: ``"W_hh"`` (simple RNN) or the gate's, e.g. ``"W_hf"``.
        radius: ρ.  norm: σ_max.
    """

    layer: int
    block: str
    radius: float
    norm: float


def gate_names(cell: nn.Module) -> tuple[str, ...]:
    """The gate blocks of ``weight_hh``, in row order."""
    if isinstance(cell, SimpleRNNCell):
        return ("hh",)
    if isinstance(cell, LSTMCell):
        return ("hi", "hf", "hg", "ho") if cell.has_forget_gate else ("hi", "hg", "ho")
    if isinstance(cell, GRUCell):
        return ("hr", "hz", "hn")
    blocks = cell.weight_hh.shape[0] // cell.hidden_size
    return ("hh",) if blocks == 1 else tuple(f"hh{k}" for k in range(blocks))


def recurrent_spectra(layer: nn.Module) -> list[Spectrum]:
    """ρ and σ_max of every gate block ``(H, H)`` of every layer's ``weight_hh``.

    With a projection (LSTM ``proj_size``) the block ``(H, P)`` acts on ``h = m weight_hr^T``, so the
    figures are those of the square map ``W_block weight_hr (H, H)``.
    """
    spectra = []
    for l, cell in enumerate(layer_cells(layer)):
        if not isinstance(getattr(cell, "weight_hh", None), torch.Tensor):
            raise ValueError(f"layer: cell {type(cell).__name__} has no weight_hh to take the spectrum of")
        weight_hr = getattr(cell, "weight_hr", None)
        with torch.no_grad():
            blocks = cell.weight_hh.detach().double().split(cell.hidden_size, dim=0)   # G x (H, R)
            for name, block in zip(gate_names(cell), blocks):
                square = block if weight_hr is None else block @ weight_hr.detach().double()  # (H, H)
                radius = torch.linalg.eigvals(square).abs().max().item()
                norm = torch.linalg.matrix_norm(square, ord=2).item()
                spectra.append(Spectrum(l, f"W_{name}", radius, norm))
    return spectra
