"""The bridge between the torch cells and the NumPy reference (micrograd's test, for RNNs).

The same computation runs in both engines in float64 — a cell over a padded batch, one or
both directions, with the regularisers' masks fixed — and every gradient is compared:

    L = sum(y * G_y) + sum(final_state * G_s)        (random G: every output matters)

The errors are norm-wise relative errors ``max|a - b| / max(max|a|, max|b|)`` per tensor.
Used by the tests and by ``rnnkit gradcheck``.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import reference
from ..cells import GRUCell, LSTMCell, LSTMState, SimpleRNNCell
from ..cells.base import state_leaves
from ..recurrent import RNN, Bidirectional
from .. import kernels
from ..kernels import force_loop
from ..recurrent.loop import run_sequence

PATHS = ("auto", "loop")
CELL_CLASSES = {"srn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}

#: Every cell variant the reference covers: name -> (kind, cell options).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "srn-tanh": ("srn", {}),
    "srn-relu": ("srn", {"nonlinearity": "relu"}),
    "srn-no-bias": ("srn", {"bias": False}),
    "lstm": ("lstm", {}),
    "lstm-forget-bias": ("lstm", {"forget_bias": 1.0}),
    "lstm-peephole": ("lstm", {"peephole": True}),
    "lstm-no-forget-gate": ("lstm", {"forget_gate": False}),
    "lstm-coupled": ("lstm", {"coupled": True}),
    "lstm-layer-norm": ("lstm", {"layer_norm": True}),
    "lstm-proj": ("lstm", {"proj_size": 3}),
    "lstm-hard-sigmoid": ("lstm", {"recurrent_activation": "hard_sigmoid"}),
    "lstm-softsign": ("lstm", {"activation": "softsign"}),
    "lstm-no-bias": ("lstm", {"bias": False}),
    "lstm-peephole-coupled": ("lstm", {"peephole": True, "coupled": True}),
    "lstm-everything": ("lstm", {"peephole": True, "layer_norm": True, "proj_size": 3, "forget_bias": 1.0}),
    "gru": ("gru", {}),
    "gru-reset-before": ("gru", {"reset_after": False}),
    "gru-layer-norm": ("gru", {"layer_norm": True}),
    "gru-reset-before-layer-norm": ("gru", {"reset_after": False, "layer_norm": True}),
    "gru-hard-sigmoid": ("gru", {"recurrent_activation": "hard_sigmoid"}),
    "gru-no-bias": ("gru", {"bias": False}),
}


def make_cell(kind: str, input_size: int, hidden_size: int, params: dict[str, np.ndarray],
              **cell_options: Any) -> torch.nn.Module:
    """A float64 torch cell of ``kind`` holding exactly the reference ``params``.

    Raises:
        ValueError: the two engines disagree on which parameters these options create.
    """
    cell = CELL_CLASSES[kind](input_size, hidden_size, **cell_options).double()
    names = dict(cell.named_parameters())
    if set(names) != set(params):
        raise ValueError(f"parameters: torch creates {sorted(names)}, the reference {sorted(params)}")
    with torch.no_grad():
        for name, param in names.items():
            param.copy_(torch.from_numpy(params[name]))
    return cell


def _as_tensor(state: Any) -> Any:
    if isinstance(state, tuple):
        return LSTMState(*(torch.tensor(s, requires_grad=True) for s in state))
    return torch.tensor(state, requires_grad=True)


def check_against_reference(kind: str, *, input_size: int = 4, hidden_size: int = 6, batch: int = 3,
                            time: int = 5, lengths: bool = False, bidirectional: bool = False,
                            recurrent_dropout: float = 0.0, zoneout: float = 0.0, seed: int = 0,
                            path: str = "auto", **cell_options: Any) -> dict[str, float]:
    """Runs one configuration in torch (autograd) and in the reference (hand-derived BPTT).

    Arguments:
        kind: ``"srn"``, ``"lstm"`` or ``"gru"``; ``cell_options``: the cell's options (incl. ``bias``).
        lengths: use a padded batch with random lengths (one row full, one of length 1 if B > 2).
        bidirectional: both directions (``Bidirectional`` vs ``reference.bidirectional_forward``).
        recurrent_dropout: rate of a fixed variational mask on ``h_{t-1}`` (single direction only).
        zoneout: evaluation-mode zoneout rate (``d = p``; single direction only).
        path: ``"auto"``: the path the dispatcher picks (a BPTT kernel for the variants);
            ``"loop"``: the per-step autograd loop through the cell's ``step``.
    Returns:
        name -> max relative error, for ``y``, ``final.*``, every parameter (``fwd.``/``bwd.``
        prefixed when bidirectional), ``x`` and the initial state ``h0`` (LSTM: also ``c0``).
    """
    if bidirectional and (recurrent_dropout or zoneout):
        raise ValueError("bidirectional: compare recurrent_dropout / zoneout in one direction")
    rng = np.random.default_rng(seed)
    bias = cell_options.pop("bias", True)
    proj_size = cell_options.get("proj_size", 0)
    directions = ("fwd", "bwd") if bidirectional else ("fwd",)
    params = {d: reference.init_params(kind, input_size, hidden_size, bias=bias, rng=rng, **cell_options)
              for d in directions}
    cells = {d: make_cell(kind, input_size, hidden_size, params[d], bias=bias, **cell_options)
             for d in directions}
    x_np = rng.standard_normal((batch, time, input_size))                         # (B, T, I)
    states_np = {d: reference.init_state(kind, batch, hidden_size, rng=rng, proj_size=proj_size)
                 for d in directions}
    lengths_np = _random_lengths(rng, batch, time) if lengths else None
    out_size = (proj_size or hidden_size) * len(directions)
    g_y = rng.standard_normal((batch, time, out_size))
    g_final = {d: [rng.standard_normal(np.shape(s)) for s in _leaves(states_np[d])] for d in directions}
    mask_np = None
    if recurrent_dropout:
        keep = rng.random((batch, proj_size or hidden_size)) >= recurrent_dropout
        mask_np = keep / (1.0 - recurrent_dropout)

    if path not in PATHS:
        raise ValueError(f"path: expected one of {PATHS}, got {path!r}")

    # --- torch: autograd through the loop, or the dispatched kernel -------------------------
    x = torch.tensor(x_np, requires_grad=True)
    states = {d: _as_tensor(states_np[d]) for d in directions}
    lengths_t = None if lengths_np is None else torch.from_numpy(lengths_np)
    with force_loop() if path == "loop" else contextlib.nullcontext():
        y, finals = _run_torch(cells, x, states, lengths_t, bidirectional, mask_np, zoneout, path)
    loss = (y * torch.from_numpy(g_y)).sum()
    for d in directions:
        loss = loss + sum((s * torch.from_numpy(g)).sum() for s, g in zip(state_leaves(finals[d]), g_final[d]))
    loss.backward()

    # --- reference, hand-derived BPTT (time-major) -------------------------------------------
    x_tm = x_np.transpose(1, 0, 2)
    g_y_tm = g_y.transpose(1, 0, 2)
    g_final_ref = {d: _restructure(states_np[d], g_final[d]) for d in directions}
    if bidirectional:
        y_ref, finals_ref, cache = reference.bidirectional_forward(
            kind, params["fwd"], params["bwd"], x_tm, states_np["fwd"], states_np["bwd"],
            lengths=lengths_np, **cell_options)
        grads_f, grads_b, dx = reference.bidirectional_backward(
            cache, g_y_tm, (g_final_ref["fwd"], g_final_ref["bwd"]))
        grads = {"fwd": grads_f, "bwd": grads_b}
        finals_ref = dict(zip(directions, finals_ref))
    else:
        zoneout_masks = None
        if zoneout:
            zoneout_masks = {"h": np.full((time, batch, proj_size or hidden_size), zoneout)}
            if kind == "lstm":
                zoneout_masks["c"] = np.full((time, batch, hidden_size), zoneout)
        y_ref, final_ref, cache = reference.forward(
            kind, params["fwd"], x_tm, states_np["fwd"], lengths=lengths_np, recurrent_mask=mask_np,
            zoneout=zoneout_masks, **cell_options)
        grads = {"fwd": reference.backward(cache, g_y_tm, g_final_ref["fwd"])}
        dx = grads["fwd"].pop("x")
        finals_ref = {"fwd": final_ref}

    errors = {"y": reference.max_relative_error(y.detach().numpy(), y_ref.transpose(1, 0, 2))}
    state_names = ("h0", "c0") if kind == "lstm" else ("h0",)
    for d in directions:
        prefix = f"{d}." if bidirectional else ""
        for name, got, want in zip(state_names, state_leaves(finals[d]), _leaves(finals_ref[d])):
            errors[f"{prefix}final.{name[0]}"] = reference.max_relative_error(got.detach().numpy(), want)
        for name, param in cells[d].named_parameters():
            errors[prefix + name] = reference.max_relative_error(param.grad.numpy(), grads[d][name])
        for name, s in zip(state_names, state_leaves(states[d])):
            errors[prefix + name] = reference.max_relative_error(s.grad.numpy(), grads[d][name])
    errors["x"] = reference.max_relative_error(x.grad.numpy(), dx.transpose(1, 0, 2))
    return errors


def check_textbook_lm(*, input_size: int = 4, hidden_size: int = 6, vocab: int = 5, batch: int = 3,
                      time: int = 5, seed: int = 0) -> dict[str, float]:
    """The textbook language model: ``o_t = softmax(V h_t + c)``, cross-entropy summed over time.

    Compares torch autograd through ``SimpleRNNCell`` + a linear output layer with
    ``reference.srn_lm_loss`` (dL/dV, dL/dc, dL/dU, dL/dW, dL/db, dL/dx, dL/dh0) and the loss itself.
    """
    rng = np.random.default_rng(seed)
    params = reference.init_params("srn", input_size, hidden_size, rng=rng)
    params["V"] = rng.uniform(-0.5, 0.5, (vocab, hidden_size))
    params["c"] = rng.uniform(-0.5, 0.5, vocab)
    x_np = rng.standard_normal((time, batch, input_size))
    h0_np = rng.uniform(-0.5, 0.5, (batch, hidden_size))
    targets = rng.integers(0, vocab, (time, batch))
    loss_ref, grads = reference.srn_lm_loss(params, x_np, targets, h0_np)

    cell = make_cell("srn", input_size, hidden_size, {k: v for k, v in params.items() if k not in ("V", "c")})
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    x = torch.tensor(x_np.transpose(1, 0, 2), requires_grad=True)                 # (B, T, I)
    h0 = torch.tensor(h0_np, requires_grad=True)
    h, _ = RNN(cell)(x, h0)                                                        # (B, T, H)
    logits = F.linear(h, V, c)                                                     # (B, T, K)
    loss = F.cross_entropy(logits.reshape(-1, vocab), torch.from_numpy(targets.T.reshape(-1)), reduction="sum")
    loss.backward()
    errors = {"loss": reference.max_relative_error(np.array(loss.item()), np.array(loss_ref))}
    for name, param in [*cell.named_parameters(), ("V", V), ("c", c)]:
        errors[name] = reference.max_relative_error(param.grad.numpy(), grads[name])
    errors["x"] = reference.max_relative_error(x.grad.numpy(), grads["x"].transpose(1, 0, 2))
    errors["h0"] = reference.max_relative_error(h0.grad.numpy(), grads["h0"])
    return errors


def _run_torch(cells, x, states, lengths, bidirectional, mask_np, zoneout, path):
    """The torch side of :func:`check_against_reference`: returns ``(y, {direction: final})``."""
    directions = tuple(cells)
    if bidirectional:
        y, finals = Bidirectional(RNN(cells["fwd"]), RNN(cells["bwd"]))(
            x, (states["fwd"], states["bwd"]), lengths=lengths)
        finals = dict(zip(directions, finals))
    elif mask_np is not None:                      # a fixed mask: call the runner the layer would use
        runner = run_sequence if path == "loop" else kernels.run_cell
        y, final = runner(cells["fwd"], x, states["fwd"], lengths, recurrent_mask=torch.from_numpy(mask_np),
                          zoneout=0.0, training=True)
        finals = {"fwd": final}
    else:
        y, final = RNN(cells["fwd"], zoneout=zoneout).eval()(x, states["fwd"], lengths=lengths)
        finals = {"fwd": final}
    return y, finals


def _random_lengths(rng: np.random.Generator, batch: int, time: int) -> np.ndarray:
    lengths = rng.integers(1, time + 1, batch)
    lengths[0] = time
    if batch > 2:
        lengths[-1] = 1
    return lengths


def _leaves(state: Any) -> list[np.ndarray]:
    return list(state) if isinstance(state, tuple) else [state]


def _restructure(template: Any, leaves: list[np.ndarray]) -> Any:
    return tuple(leaves) if isinstance(template, tuple) else leaves[0]
