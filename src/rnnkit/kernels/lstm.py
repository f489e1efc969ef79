r"""Whole-sequence LSTM with hand-derived BPTT, for every variant of :class:`~rnnkit.LSTMCell`.

Forward, per step (gates in PyTorch's order ``i, f, g, o``; ``i, g, o`` without a forget gate)::

    A   = a_t + h_in W_hh^T                   a_t = x_t W_ih^T + b_ih + b_hh (+ forget_bias), the x W_ih^T
                                              of all t in one GEMM outside (no_grad on CPU: a few steps
                                              at a time in the C++ loop); layer_norm: a_t =
                                              LNb(x_t W_ih^T) ln_ih + b and LNb(h_in W_hh^T) ln_hh
    i   = σ(A_i [+ w_ci c_{t-1}])    f = σ(A_f [+ w_cf c_{t-1}])  (coupled: f = 1 - i; none: f = 1)
    g   = φ(A_g)
    c~  = f c_{t-1} + i g
    o   = σ(A_o [+ w_co c~])
    m   = o φ(cn),  cn = c~ or LN(c~) ln_cell_weight + ln_cell_bias
    h~  = m or m W_hr^T
    h_t = d_h h_{t-1} + (1 - d_h) h~ ,   c_t = d_c c_{t-1} + (1 - d_c) c~     (zoneout; else h~, c~)

with ``h_in = h_{t-1} * M`` under recurrent dropout. The activations are turned into the factors of
the backward pass, for all steps at once after the torch loop, or inside the C++ loop::

    Q  = σ'(o) φ(cn)        dA_o    = dm Q                                    (dm = dh~ or dh~ W_hr)
    K  = o φ'(cn)           dc~    += dm K              (layer_norm: through LN's backward)
    P  = [σ'(i) g, σ'(f) c_{t-1}, φ'(g) i]      dA_{i,f,g} = dc~ P            (coupled: P_i = σ'(i)(g - c_{t-1}))
    Fe = f + P_i w_ci + P_f w_cf                dc_{t-1}   = dc~ Fe           (peephole terms folded in)

so that each reversed step is a few pointwise products and one GEMM, ``dh_{t-1} = dA W_hh (* M)``.
The weight gradients are GEMMs / reductions over all steps at the end.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import torch

from . import gemm, native, scratch
from .activations import KERNEL_ACTIVATIONS
from .common import (Zoneout, input_side, input_side_backward, layer_norm, layer_norm_backward, normalised, previous,
                     recurrent_input_grad, recurrent_weight_grad, refuse_double_backward, zoneout_at, zoneout_split)
from .timeline import Timeline


class LSTMSpec(NamedTuple):
    """The static part of an LSTM kernel call."""

    has_forget: bool
    coupled: bool
    sigma: str           # recurrent_activation name
    phi: str             # activation name


class LSTMWeights(NamedTuple):
    """The recurrent-side parameters of one LSTM kernel call (absent options are None)."""

    weight_hh: torch.Tensor
    ln_hh_weight: torch.Tensor | None
    weight_ci: torch.Tensor | None
    weight_cf: torch.Tensor | None
    weight_co: torch.Tensor | None
    ln_cell_weight: torch.Tensor | None
    ln_cell_bias: torch.Tensor | None
    weight_hr: torch.Tensor | None


class LSTMKernel(torch.autograd.Function):
    """``apply(z_in, h0, c0, weight_hh, ln_hh_weight, weight_ci, weight_cf, weight_co, ln_cell_weight,
    ln_cell_bias, weight_hr, ln_ih_weight, bias_in, mask, d_h, d_c, spec, timeline, recording)
    -> (y (T, B, R), h_T (B, R), c_T (B, H))``.

    Time-major: ``z_in (T, B, G*H)`` is the input side of every pre-activation, ``a_t``; with the
    input-side layer norm (``ln_ih_weight``) it is ``x W_ih^T`` and ``a_t = LNb(z_in) ln_ih + bias_in``
    (see :func:`~rnnkit.kernels.common.input_side`). Absent options are None; ``mask (B, R)`` the
    recurrent-dropout mask; ``d_h``/``d_c`` zoneout factors (:data:`~rnnkit.kernels.common.Zoneout`).
    With a padded timeline the batch is sorted by length and ``h_T``/``c_T`` are taken at each row's
    last valid step. ``recording`` is ``torch.is_grad_enabled()`` at the call: without it the forward
    keeps nothing for a backward (``ctx.needs_input_grad`` alone is True for parameters even under
    ``torch.no_grad()``). The step loops run in C++ on CPU when :mod:`~rnnkit.kernels.native` is
    available, else in torch.
    """

    @staticmethod
    def forward(ctx, z_in, h0, c0, weight_hh, ln_hh_weight, weight_ci, weight_cf, weight_co, ln_cell_weight,
                ln_cell_bias, weight_hr, ln_ih_weight, bias_in, mask, d_h: Zoneout, d_c: Zoneout, spec: LSTMSpec,
                timeline: Timeline, recording: bool):
        T, B, GH = z_in.shape
        R, H = h0.shape[1], c0.shape[1]
        w = LSTMWeights(weight_hh, ln_hh_weight, weight_ci, weight_cf, weight_co, ln_cell_weight, ln_cell_bias,
                        weight_hr)
        save = recording and any(ctx.needs_input_grad)           # keep what backward reads
        loops = native.loops_for(z_in)
        keep_z = ln_hh_weight is not None and (save or loops is None)      # the C++ forward alone needs no z_t
        buf = _forward_buffers(z_in, T, B, R, H, GH if keep_z else 0, w, mask, d_c, timeline)
        if loops is not None:
            stats, factors = _native_forward(loops, z_in, ln_ih_weight, bias_in, h0, c0, w, mask, d_h, d_c, spec,
                                             timeline, buf, save)
        else:
            a_in = input_side(z_in, ln_ih_weight, bias_in, H)
            stats, factors = _torch_forward(a_in, h0, c0, w, mask, d_h, d_c, spec, timeline, buf, save)
        y, cells = buf.y, buf.cells
        if save:
            input_saved = (z_in, ln_ih_weight, bias_in) if ln_ih_weight is not None else (None, None, None)
            ctx.save_for_backward(*factors, cells, c0, buf.cells_new, buf.h_in_all, h0, y, buf.m_all, buf.z_all,
                                  *input_saved, *w, mask)
            ctx.extras = (stats, loops, d_h, d_c, spec, timeline)
        return y, timeline.final(y), timeline.final(cells)

    @staticmethod
    def backward(ctx, d_y, d_h_last, d_c_last):
        refuse_double_backward("LSTMKernel")
        (P, Q, K, Fe, cells, c0, cells_new, h_in_all, h0, y, m_all, z_all, z_in, ln_ih_weight, bias_in, *weights,
         mask) = ctx.saved_tensors
        w = LSTMWeights(*weights)
        stats, loops, d_h, d_c, spec, timeline = ctx.extras
        T, B, R = y.shape
        H = c0.shape[1]
        GH = w.weight_hh.shape[0]
        in_place = loops is not None and ln_ih_weight is not None  # the C++ loop writes dL/dz_t over dA_t once
        d_a = timeline.scratch(y, T, B, GH)          # dL/dA_t; pooled even as dL/dz_in: autograd reads it, drops it
        grad = SimpleNamespace(                      # (in place: the input side's layer norm has read it first)
            dA=d_a,
            dz_all=None if w.ln_hh_weight is None else d_a if in_place else timeline.scratch(y, T, B, GH),
            dh_new_all=timeline.scratch(y, T, B, R) if w.weight_hr is not None else None,
            dh=d_h_last.clone(), dc=d_c_last.clone())                                # dL/dh_t, dL/dc_t, running
        saved = SimpleNamespace(P=P, Q=Q, K=K, Fe=Fe, cells=cells, c0=c0, cells_new=cells_new, z_all=z_all,
                                z_in=z_in, ln_ih_weight=ln_ih_weight, bias_in=bias_in)
        if loops is not None:
            vector = _native_backward(loops, saved, stats, w, mask, d_h, d_c, timeline, d_y.contiguous(), grad)
        else:
            vector = _torch_backward(saved, stats, w, mask, d_h, d_c, timeline, d_y.contiguous(), grad)
            vector["z_in"], vector["ln_ih"], vector["bias_in"] = input_side_backward(
                grad.dA, z_in, ln_ih_weight, bias_in is not None, H)
        d_pre_all = grad.dz_all if w.ln_hh_weight is not None else grad.dA
        d_weight_hh = recurrent_weight_grad(d_pre_all, h_in_all, h0, y)             # sum_t dA_t^T h_in_t
        d_hr = None
        if w.weight_hr is not None:
            d_hr = gemm.weight_grad(grad.dh_new_all, m_all)                         # sum_t dh~_t^T m_t
        return (vector["z_in"], grad.dh, grad.dc, d_weight_hh, vector.get("ln_hh"), vector.get("ci"),
                vector.get("cf"), vector.get("co"), vector.get("ln_cw"), vector.get("ln_cb"), d_hr,
                vector.get("ln_ih"), vector.get("bias_in"), None, None, None, None, None, None)


def _torch_forward(a_in, h0, c0, w: LSTMWeights, mask, d_h, d_c, spec: LSTMSpec, timeline: Timeline, buf, save):
    """The forward step loop in torch ops, then (``save``) the backward factors for all steps at once.

    Returns ``(per-step layer-norm statistics, (P, Q, K, Fe) or None)``.
    """
    T, B, GH = a_in.shape
    H = c0.shape[1]
    G = GH // H
    sig, phi = KERNEL_ACTIVATIONS[spec.sigma], KERNEL_ACTIVATIONS[spec.phi]
    n_if = 2 if spec.has_forget else 1                                         # gates read by the peepholes
    gates = timeline.buffer(a_in, T, B, GH)                                    # activated gates
    phi_c = timeline.buffer(a_in, T, B, H)                                     # φ(cn_t)
    y, cells, cells_new = buf.y, buf.cells, buf.cells_new
    m_all, h_in_all, z_all = buf.m_all, buf.h_in_all, buf.z_all
    ln_hh_weight, weight_co, ln_cell_weight, weight_hr = w.ln_hh_weight, w.weight_co, w.ln_cell_weight, w.weight_hr
    hh_stats, cell_stats = [], []
    hh = gemm.StepProduct(w.weight_hh, B)                                      # h_in W_hh^T
    hr = gemm.StepProduct(weight_hr, B) if weight_hr is not None else None     # m W_hr^T
    w_if = None
    if w.weight_ci is not None:
        w_if = torch.stack([w.weight_ci, w.weight_cf]) if spec.has_forget else w.weight_ci[None]   # (n_if, H)
    for t, rows in timeline.forward_steps():
        h_prev = h0[:rows] if t == 0 else y[t - 1, :rows]                     # (b, R)
        c_prev = c0[:rows] if t == 0 else cells[t - 1, :rows]                 # (b, H)
        h_in = h_prev if mask is None else torch.mul(h_prev, mask[:rows], out=h_in_all[t, :rows])
        A = gates[t, :rows]                                                   # (b, G*H)
        if ln_hh_weight is None:
            hh(h_in, out=A, shift=a_in[t, :rows])
        else:
            z = hh(h_in, out=z_all[t, :rows])
            z_hat, stats = layer_norm(z, H)
            hh_stats.append(stats)
            torch.addcmul(a_in[t, :rows], z_hat, ln_hh_weight, out=A)
        A3 = A.view(rows, G, H)
        if w_if is not None:
            A3[:, :n_if].addcmul_(c_prev.unsqueeze(1), w_if)                  # peepholes on c_{t-1}
        i_f = A[:, :n_if * H]
        sig.into(i_f, i_f)                                                    # i (, f)
        i, g, o = A3[:, 0], A3[:, G - 2], A3[:, G - 1]
        phi.into(g, g)
        c = cells_new[t, :rows]
        if spec.has_forget:
            torch.mul(A3[:, 1], c_prev, out=c).addcmul_(i, g)                 # c~ = f c_{t-1} + i g
        elif spec.coupled:
            torch.lerp(c_prev, g, i, out=c)                                   # c~ = (1 - i) c_{t-1} + i g
        else:
            torch.addcmul(c_prev, i, g, out=c)                                # c~ = c_{t-1} + i g
        if weight_co is not None:
            o.addcmul_(c, weight_co)                                          # peephole on c~_t
        sig.into(o, o)
        cn = c
        if ln_cell_weight is not None:
            cn, stats = layer_norm(c, H, ln_cell_weight, w.ln_cell_bias)
            cell_stats.append(stats)
        phi.into(cn, phi_c[t, :rows])
        h_out = y[t, :rows] if d_h is None else None
        if weight_hr is None:
            h_new = torch.mul(o, phi_c[t, :rows], out=h_out)
        else:
            m = torch.mul(o, phi_c[t, :rows], out=m_all[t, :rows])
            h_new = hr(m, out=h_out)
        if d_h is not None:
            torch.lerp(h_new, h_prev, zoneout_at(d_h, t, rows), out=y[t, :rows])
        if d_c is not None:
            torch.lerp(c, c_prev, zoneout_at(d_c, t, rows), out=cells[t, :rows])
    factors = _backward_factors(gates, phi_c, cells, c0, w.weight_ci, w.weight_cf, spec, H) if save else None
    return (hh_stats, cell_stats), factors


def _torch_backward(saved, stats, w: LSTMWeights, mask, d_h, d_c, timeline: Timeline, d_y, grad) -> dict:
    """The reversed step loop in torch ops: fills ``grad.dA`` (and dz_all, dh_new_all), leaves dL/dh_0 and
    dL/dc_0 in ``grad.dh``, ``grad.dc``; returns the gradients of the vector parameters (all steps at once)."""
    hh_stats, cell_stats = stats
    P, Q, K, Fe, cells_new, z_all = saved.P, saved.Q, saved.K, saved.Fe, saved.cells_new, saved.z_all
    T, B, H = cells_new.shape
    G = P.shape[2] + 1
    dA, dz_all, dh_new_all, dh, dc = grad.dA, grad.dz_all, grad.dh_new_all, grad.dh, grad.dc
    dcn_all = timeline.buffer(dA, T, B, H) if w.ln_cell_weight is not None else None
    ln_hh_weight, weight_co, weight_hr = w.ln_hh_weight, w.weight_co, w.weight_hr
    ln_cell_weight, ln_cell_bias = w.ln_cell_weight, w.ln_cell_bias
    hh_back = gemm.StepProduct(w.weight_hh.t(), B)                             # d_pre W_hh
    hr_back = gemm.StepProduct(weight_hr.t(), B) if weight_hr is not None else None   # dh~ W_hr
    for t, rows, joining in timeline.backward_steps():
        if joining < rows:
            dh[joining:rows] += d_y[t, joining:rows]                          # the output of a row's last step
        dh_t, dc_t = dh[:rows], dc[:rows]
        carry_h = carry_c = None
        if d_h is not None:
            dh_t, carry_h = zoneout_split(dh_t, zoneout_at(d_h, t, rows))
        if d_c is not None:
            dc_t, carry_c = zoneout_split(dc_t, zoneout_at(d_c, t, rows))
        dm = dh_t
        if weight_hr is not None:
            dh_new_all[t, :rows] = dh_t
            dm = hr_back(dh_t)                                                # dL/dm = dh~ W_hr
        dA3 = dA[t, :rows].view(rows, G, H)
        dA_o = torch.mul(dm, Q[t, :rows], out=dA3[:, G - 1])                 # dL/dA_o = dm σ'(o) φ(cn)
        if ln_cell_weight is None:
            dc_t.addcmul_(dm, K[t, :rows])                                    # dc~ += dm o φ'(c~)
        else:
            dcn = torch.mul(dm, K[t, :rows], out=dcn_all[t, :rows])          # dL/dcn = dm o φ'(cn)
            dc_t.add_(layer_norm_backward(dcn, cells_new[t, :rows], H, cell_stats[t], ln_cell_weight,
                                          ln_cell_bias))
        if weight_co is not None:
            dc_t.addcmul_(dA_o, weight_co)                                    # the o peephole reads c~_t
        torch.mul(dc_t.unsqueeze(1), P[t, :rows], out=dA3[:, :G - 1])        # dL/dA_{i,f,g} = dc~ P
        if Fe is not None:
            dc_t.mul_(Fe[t, :rows])                                           # dL/dc_{t-1} = dc~ Fe
        if carry_c is not None:
            dc[:rows] = dc_t.add_(carry_c)
        d_pre = dA[t, :rows]
        if ln_hh_weight is not None:                                          # through LNb(h_in W_hh^T) ln_hh
            d_pre = layer_norm_backward(d_pre * ln_hh_weight, z_all[t, :rows], H, hh_stats[t])
            dz_all[t, :rows] = d_pre
        base = d_y[t - 1, :rows] if t > 0 else None                          # dh_{t-1} = dy_{t-1} + ...
        if carry_h is not None:
            base = carry_h if base is None else base + carry_h
        recurrent_input_grad(d_pre, hh_back, mask, rows, base, out=dh[:rows])
    vector = {}
    dA4 = dA.view(T, B, G, H)
    if ln_hh_weight is not None:
        vector["ln_hh"] = (dA * normalised(z_all, H)).sum((0, 1))         # sum dA * LNb(z)
    if w.weight_ci is not None:
        c_prev = previous(saved.c0, saved.cells)
        vector["ci"] = (dA4[:, :, 0] * c_prev).sum((0, 1))                     # sum dA_i * c_{t-1}
        if w.weight_cf is not None:
            vector["cf"] = (dA4[:, :, 1] * c_prev).sum((0, 1))
    if weight_co is not None:
        vector["co"] = (dA4[:, :, G - 1] * cells_new).sum((0, 1))              # sum dA_o * c~_t
    if ln_cell_weight is not None:
        vector["ln_cw"] = (dcn_all * normalised(cells_new, H)).sum((0, 1))     # sum dcn * LN(c~)
        vector["ln_cb"] = dcn_all.sum((0, 1))
    return vector


def lstm_inference(loops, x, weight_ih, ln_ih_weight, bias_in, h0, c0, w: LSTMWeights, mask, d_h, d_c,
                   spec: LSTMSpec, timeline: Timeline):
    """``LSTMKernel``'s forward without autograd, in the C++ loops, for ``torch.no_grad()`` inference:
    ``x (T, B, I)`` itself goes in, and the loop computes ``a_t = x_t W_ih^T + bias_in`` (or
    ``LNb(x_t W_ih^T) ln_ih_weight + bias_in``) a few steps at a time (no ``(T, B, 4H)`` tensor of
    all steps). Returns ``(y, h_T, c_T)`` as ``LSTMKernel.apply``."""
    T, B = x.shape[:2]
    buf = _forward_buffers(x, T, B, h0.shape[1], c0.shape[1], 0, w, mask, d_c, timeline)
    _native_forward(loops, None, ln_ih_weight, bias_in, h0, c0, w, mask, d_h, d_c, spec, timeline, buf, False,
                    projection=(x.contiguous(), weight_ih.contiguous()))
    return buf.y, timeline.final(buf.y), timeline.final(buf.cells)


def _forward_buffers(like, T: int, B: int, R: int, H: int, z_width: int, w: LSTMWeights, mask, d_c,
                     timeline: Timeline) -> SimpleNamespace:
    """The forward loops' per-step outputs: ``y`` and ``cells`` (returned: plain buffers) and the
    kernel's own (:meth:`Timeline.scratch`): ``m_all``, ``h_in_all``, ``z_all`` (``z_width`` wide, 0:
    none) and ``cells_new`` (``cells`` itself without zoneout)."""
    buf = SimpleNamespace(
        y=timeline.buffer(like, T, B, R),                                        # h_t (after zoneout)
        cells=timeline.buffer(like, T, B, H),                                    # c_t (after zoneout)
        m_all=timeline.scratch(like, T, B, H) if w.weight_hr is not None else None,    # m_t before W_hr
        h_in_all=timeline.scratch(like, T, B, R) if mask is not None else None,
        z_all=timeline.scratch(like, T, B, z_width) if z_width else None)         # h_in W_hh^T before LNb
    buf.cells_new = timeline.scratch(like, T, B, H) if d_c is not None else buf.cells    # c~_t
    return buf


def _native_forward(loops, z_in, ln_ih_weight, bias_in, h0, c0, w: LSTMWeights, mask, d_h, d_c, spec: LSTMSpec,
                    timeline: Timeline, buf, save, projection=(None, None)):
    """The forward step loop in C++, which also writes the backward factors (``save``); with
    ``projection = (x, weight_ih)`` instead of ``z_in`` the loop computes the input side itself.

    Returns ``((hh, cell, input statistics), (P, Q, K, Fe) or None)``: layer-norm means and rstds
    ``(T, B, blocks, 2)`` where used.
    """
    like = buf.y
    T, B = like.shape[:2]
    GH, H = w.weight_hh.shape[0], c0.shape[1]
    G = GH // H
    hh_stats, cell_stats, x_stats = scratch.empty_views(                  # rows past a length: unused
        like, (T, B, G, 2) if w.ln_hh_weight is not None else None, (T, B, 2) if w.ln_cell_weight is not None else None,
        (T, B, G, 2) if ln_ih_weight is not None else None)
    factors = None
    if save:
        has_fe = spec.has_forget or spec.coupled or w.weight_ci is not None
        factors = scratch.empty_views(like, (T, B, G - 1, H), (T, B, H), (T, B, H), (T, B, H) if has_fe else None)
    ids = native.ACTIVATION_IDS
    loops.lstm_forward(z_in, h0.contiguous(), c0.contiguous(), *_contiguous(w), mask, *native.zoneout_args(d_h),
                       *native.zoneout_args(d_c), spec.has_forget, spec.coupled, ids[spec.sigma], ids[spec.phi],
                       timeline.batch_sizes, buf.y, buf.cells, buf.cells_new, buf.m_all, buf.h_in_all, buf.z_all,
                       hh_stats, cell_stats, *(factors or (None,) * 4), native.packed(loops, w.weight_hh, B),
                       None if w.weight_hr is None else native.packed(loops, w.weight_hr, B),
                       _contiguous_or_none(ln_ih_weight), _contiguous_or_none(bias_in), x_stats, *projection)
    return (hh_stats, cell_stats, x_stats), factors


def _native_backward(loops, saved, stats, w: LSTMWeights, mask, d_h, d_c, timeline: Timeline, d_y, grad) -> dict:
    """The reversed step loop in C++, filling ``grad`` as :func:`_torch_backward` does; the vector
    parameters' gradients are summed inside the loop."""
    hh_stats, cell_stats, x_stats = stats
    w = _contiguous(w)
    layer_norm_in = saved.ln_ih_weight is not None
    vector = {key: param.new_empty(param.shape) for key, param in
              zip(("ci", "cf", "co", "ln_hh", "ln_cw", "ln_cb", "ln_ih"),
                  (w.weight_ci, w.weight_cf, w.weight_co, w.ln_hh_weight, w.ln_cell_weight, w.ln_cell_bias,
                   saved.ln_ih_weight))
              if param is not None}
    if layer_norm_in:
        vector["z_in"] = timeline.scratch(saved.z_in, *saved.z_in.shape)          # pooled: autograd drops it
        if saved.bias_in is not None:
            vector["bias_in"] = torch.empty_like(saved.bias_in)
    else:
        vector["z_in"] = grad.dA
    loops.lstm_backward(saved.P, saved.Q, saved.K, saved.Fe, saved.cells, saved.c0.contiguous(), saved.cells_new,
                        saved.z_all, hh_stats, cell_stats, w.weight_hh, w.ln_hh_weight, w.weight_ci, w.weight_cf,
                        w.weight_co, w.ln_cell_weight, w.ln_cell_bias, w.weight_hr, mask,
                        *native.zoneout_args(d_h), *native.zoneout_args(d_c), timeline.batch_sizes, d_y, grad.dh,
                        grad.dc, grad.dA, grad.dz_all, grad.dh_new_all,
                        *(vector.get(key) for key in ("ci", "cf", "co", "ln_hh", "ln_cw", "ln_cb")),
                        native.packed(loops, w.weight_hh.t(), d_y.shape[1]),
                        None if w.weight_hr is None else native.packed(loops, w.weight_hr.t(), d_y.shape[1]),
                        saved.z_in, _contiguous_or_none(saved.ln_ih_weight), _contiguous_or_none(saved.bias_in),
                        x_stats, vector["z_in"] if layer_norm_in else None, vector.get("ln_ih"), vector.get("bias_in"))
    return vector


def _contiguous(w: LSTMWeights) -> LSTMWeights:
    return LSTMWeights(*map(_contiguous_or_none, w))


def _contiguous_or_none(tensor):
    return None if tensor is None else tensor.contiguous()


def _backward_factors(gates, phi_c, cells, c0, weight_ci, weight_cf, spec: LSTMSpec, H: int):
    """P, Q, K, Fe of the module docstring for all steps at once (Fe None when it is 1)."""
    T, B, GH = gates.shape
    G = GH // H
    sig, phi = KERNEL_ACTIVATIONS[spec.sigma], KERNEL_ACTIVATIONS[spec.phi]
    gates4 = gates.view(T, B, G, H)
    i, g, o = gates4[:, :, 0], gates4[:, :, G - 2], gates4[:, :, G - 1]
    c_prev = previous(c0, cells)                                            # (T, B, H)
    Q = sig.derivative(o).mul_(phi_c)                                       # σ'(o) φ(cn)
    K = phi.derivative(phi_c).mul_(o)                                       # o φ'(cn)
    P = gates.new_empty(T, B, G - 1, H)
    torch.mul(sig.derivative(i), g - c_prev if spec.coupled else g, out=P[:, :, 0])
    if spec.has_forget:
        torch.mul(sig.derivative(gates4[:, :, 1]), c_prev, out=P[:, :, 1])
    torch.mul(phi.derivative(g), i, out=P[:, :, G - 2])
    if spec.has_forget:
        Fe = gates4[:, :, 1].clone()                                        # f
    elif spec.coupled:
        Fe = 1.0 - i                                                        # f = 1 - i
    else:
        Fe = None                                                           # f = 1
    if weight_ci is not None:
        Fe = P[:, :, 0] * weight_ci + (1.0 if Fe is None else Fe)
        if weight_cf is not None:
            Fe.addcmul_(P[:, :, 1], weight_cf)
    return P, Q, K, Fe
