r"""Whole-sequence GRU with hand-derived BPTT, for every variant of :class:`~rnnkit.GRUCell`.

Forward, per step (gates ``r, z, n``; ``gi_t`` = the input part: ``x_t W_ih^T`` of all steps in one
GEMM outside, plus the biases, or with layer_norm ``LNb(x_t W_ih^T) ln_ih + b`` applied here)::

    reset_after=True:   gh = h_in W_hh^T + b_hh                       (layer_norm: LNb(h_in W_hh^T) ln_hh + b_hh)
                        r, z = σ(gi_rz + gh_rz);   n = φ(gi_n + r gh_n)
    reset_after=False:  r, z = σ(gi_rz + h_in W_rz^T)                 (b_hh is folded into gi)
                        n = φ(gi_n + (r h_in) W_n^T)                  (layer_norm: LNb(.) ln_hh for both products)
    h~  = (1 - z) n + z h_{t-1}            h_t = d h_{t-1} + (1 - d) h~   (zoneout; else h_t = h~)

with ``h_in = h_{t-1} * M`` under recurrent dropout (the interpolation reads the unmasked h_{t-1}).
Backward factors, computed for all steps after the loop::

    Pn = (1 - z) φ'(n)      Pz = (h_{t-1} - n) σ'(z)
    reset_after=True:   Pr = Pn gh_n σ'(r);  dgh = dh~ [Pr, Pz, Pn r],  dgi = dh~ [Pr, Pz, Pn]
    reset_after=False:  dgi_{z,n} = dh~ [Pz, Pn];  d(r h_in) = dgi_n W_n;  dgi_r = d(r h_in) σ'(r) h_in
    dh_{t-1} = dy_{t-1} + dh~ z + (dgh W_hh  |  d(r h_in) r + dgi_rz W_rz) [* M]
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import torch

from . import gemm, native
from .activations import KERNEL_ACTIVATIONS
from .common import (Zoneout, input_side, input_side_backward, layer_norm, layer_norm_backward, masked_add,
                     normalised, previous, recurrent_input_grad, recurrent_weight_grad, refuse_double_backward,
                     zoneout_at, zoneout_split)
from .timeline import Timeline


class GRUSpec(NamedTuple):
    """The static part of a GRU kernel call."""

    reset_after: bool
    sigma: str           # recurrent_activation name
    phi: str             # activation name


class GRUKernel(torch.autograd.Function):
    """``apply(z_in, h0, weight_hh, bias_hh, ln_hh_weight, ln_ih_weight, bias_in, mask, d_h, spec, timeline)
    -> (y (T, B, H), h_T (B, H))``.

    Time-major ``z_in (T, B, 3H)``: the input side ``gi`` itself, or ``x W_ih^T`` with
    ``gi = LNb(z_in) ln_ih + bias_in`` under the input-side layer norm; ``bias_hh`` is given only with
    ``reset_after=True`` (else it is in gi); absent options are None. See
    :class:`~rnnkit.kernels.lstm.LSTMKernel` for the conventions.
    """

    @staticmethod
    def forward(ctx, z_in, h0, weight_hh, bias_hh, ln_hh_weight, ln_ih_weight, bias_in, mask, d_h: Zoneout,
                spec: GRUSpec, timeline: Timeline, recording: bool):
        T, B, H3 = z_in.shape
        H = H3 // 3
        buf = SimpleNamespace(
            gates=timeline.scratch(z_in, T, B, H3),                                  # r, z, n
            y=timeline.buffer(z_in, T, B, H),                                        # the output: the caller's
            h_in_all=timeline.scratch(z_in, T, B, H) if mask is not None else None,
            z_all=timeline.scratch(z_in, T, B, H3) if ln_hh_weight is not None else None,  # products before LN
            rh_all=None if spec.reset_after else timeline.scratch(z_in, T, B, H))    # r * h_in
        save = recording and any(ctx.needs_input_grad)           # keep what backward reads
        loops = native.loops_for(z_in)
        if loops is not None:
            stats, factors = _native_forward(loops, z_in, ln_ih_weight, bias_in, h0, weight_hh, bias_hh,
                                             ln_hh_weight, mask, d_h, spec, timeline, buf, save)
        else:
            gi = input_side(z_in, ln_ih_weight, bias_in, H)
            stats, factors = _torch_forward(gi, h0, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec, timeline,
                                            buf, save)
        y = buf.y
        if save:
            input_saved = (z_in, ln_ih_weight, bias_in) if ln_ih_weight is not None else (None, None, None)
            ctx.save_for_backward(*factors, buf.gates, buf.h_in_all, h0, y, buf.rh_all, buf.z_all, weight_hh,
                                  bias_hh, ln_hh_weight, *input_saved, mask)
            ctx.extras = (stats, loops, d_h, spec, timeline)
        return y, timeline.final(y)

    @staticmethod
    def backward(ctx, d_y, d_h_last):
        refuse_double_backward("GRUKernel")
        (P_hh, P_in, gates, h_in_all, h0, y, rh_all, z_all, weight_hh, bias_hh, ln_hh_weight, z_in, ln_ih_weight,
         bias_in, mask) = ctx.saved_tensors
        stats, loops, d_h, spec, timeline = ctx.extras
        T, B, H = y.shape
        grad = SimpleNamespace(
            d_gi=timeline.scratch(y, T, B, 3 * H),                                   # pooled, as dL/dz_in too:
            d_gh=timeline.scratch(y, T, B, 3 * H) if spec.reset_after else None,     # autograd drops it
            dz_all=timeline.scratch(y, T, B, 3 * H) if ln_hh_weight is not None else None,
            dh=d_h_last.clone())                                                     # dL/dh_t, running
        saved = SimpleNamespace(P_hh=P_hh, P_in=P_in, gates=gates, z_all=z_all, z_in=z_in, ln_ih_weight=ln_ih_weight,
                                bias_in=bias_in)
        if loops is not None:
            vector = _native_backward(loops, saved, stats, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec,
                                      timeline, d_y.contiguous(), grad)
        else:
            vector = _torch_backward(saved, stats, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec, timeline,
                                     d_y.contiguous(), grad)
            vector["z_in"], vector["ln_ih"], vector["bias_in"] = input_side_backward(
                grad.d_gi, z_in, ln_ih_weight, bias_in is not None, H)
        d_weight_hh = _weight_grad(grad, h_in_all, h0, y, rh_all, ln_hh_weight is not None, spec, H)
        return (vector["z_in"], grad.dh, d_weight_hh, vector.get("bias_hh"), vector.get("ln_hh"),
                vector.get("ln_ih"), vector.get("bias_in"), None, None, None, None, None)


def _torch_forward(gi, h0, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec: GRUSpec, timeline: Timeline, buf,
                   save):
    """The forward step loop in torch ops, then (``save``) the backward factors for all steps at once.

    Returns ``(per-step layer-norm statistics, (P_hh, P_in) or None)``.
    """
    T, B, H3 = gi.shape
    H = H3 // 3
    sig, phi = KERNEL_ACTIVATIONS[spec.sigma], KERNEL_ACTIVATIONS[spec.phi]
    gates, y, h_in_all, z_all, rh_all = buf.gates, buf.y, buf.h_in_all, buf.z_all, buf.rh_all
    gh_all = timeline.buffer(gi, T, B, H3) if spec.reset_after else None
    stats = []
    if spec.reset_after:
        hh = gemm.StepProduct(weight_hh, B)                                    # h_in W_hh^T
    else:
        hh_rz, hh_n = gemm.StepProduct(weight_hh[:2 * H], B), gemm.StepProduct(weight_hh[2 * H:], B)
    for t, rows in timeline.forward_steps():
        h_prev = h0[:rows] if t == 0 else y[t - 1, :rows]
        h_in = h_prev if mask is None else torch.mul(h_prev, mask[:rows], out=h_in_all[t, :rows])
        S = gates[t, :rows]
        rz, n = S[:, :2 * H], S[:, 2 * H:]
        if spec.reset_after:
            gh = gh_all[t, :rows]
            _product(h_in, hh, ln_hh_weight, z_all, t, rows, H, stats, bias_hh, out=gh)
            torch.add(gi[t, :rows, :2 * H], gh[:, :2 * H], out=rz)
            sig.into(rz, rz)
            torch.addcmul(gi[t, :rows, 2 * H:], S[:, :H], gh[:, 2 * H:], out=n)       # gi_n + r gh_n
        else:
            _product(h_in, hh_rz, _rows(ln_hh_weight, 0, 2 * H), _cols(z_all, 0, 2 * H), t, rows,
                     H, stats, gi[t, :rows, :2 * H], out=rz)
            sig.into(rz, rz)
            rh = torch.mul(S[:, :H], h_in, out=rh_all[t, :rows])
            _product(rh, hh_n, _rows(ln_hh_weight, 2 * H, 3 * H), _cols(z_all, 2 * H, 3 * H), t, rows,
                     H, stats, gi[t, :rows, 2 * H:], out=n)
        phi.into(n, n)
        h_new = torch.lerp(n, h_prev, S[:, H:2 * H], out=y[t, :rows] if d_h is None else None)
        if d_h is not None:
            torch.lerp(h_new, h_prev, zoneout_at(d_h, t, rows), out=y[t, :rows])
    if not save:
        return stats, None
    h_prev_all = previous(h0, y)
    return stats, _backward_factors(gates, h_prev_all, h_in_all if mask is not None else h_prev_all, gh_all, spec, H)


def _torch_backward(saved, stats, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec: GRUSpec, timeline: Timeline,
                    d_y, grad) -> dict:
    """The reversed step loop in torch ops: fills ``grad.d_gi`` (and d_gh, dz_all), leaves dL/dh_0 in
    ``grad.dh``; returns the gradients of ``bias_hh`` and ``ln_hh_weight`` where present (all steps at once)."""
    H = weight_hh.shape[1]
    P_hh, P_in, gates, z_all = saved.P_hh, saved.P_in, saved.gates, saved.z_all
    d_gi, d_gh, dz_all, dh = grad.d_gi, grad.d_gh, grad.dz_all, grad.dh
    B = d_gi.shape[1]
    if spec.reset_after:
        back = gemm.StepProduct(weight_hh.t(), B)                              # dgh W_hh
    else:
        back_rz, back_n = gemm.StepProduct(weight_hh[:2 * H].t(), B), gemm.StepProduct(weight_hh[2 * H:].t(), B)
    for t, rows, joining in timeline.backward_steps():
        if joining < rows:
            dh[joining:rows] += d_y[t, joining:rows]
        dh_t, carry = dh[:rows], None
        if d_h is not None:
            dh_t, carry = zoneout_split(dh_t, zoneout_at(d_h, t, rows))
        dgi3 = d_gi[t, :rows].view(rows, 3, H)
        if spec.reset_after:
            d_pre = torch.mul(dh_t.unsqueeze(1), P_hh[t, :rows], out=d_gh[t, :rows].view(rows, 3, H))
            torch.mul(dh_t, P_in[t, :rows], out=dgi3[:, 2])                   # dgi_n = dh~ Pn
            d_pre = d_pre.view(rows, 3 * H)
            if ln_hh_weight is not None:
                d_pre = layer_norm_backward(d_pre * ln_hh_weight, z_all[t, :rows], H, stats[t])
                dz_all[t, :rows] = d_pre
        else:
            torch.mul(dh_t.unsqueeze(1), P_in[t, :rows], out=dgi3[:, 1:])     # dgi_z, dgi_n
            d_n = dgi3[:, 2]
            if ln_hh_weight is not None:
                d_n = layer_norm_backward(d_n * ln_hh_weight[2 * H:], z_all[t, :rows, 2 * H:], H, stats[2 * t + 1])
                dz_all[t, :rows, 2 * H:] = d_n
            d_rh = back_n(d_n)                                                # dL/d(r h_in)
            torch.mul(d_rh, P_hh[t, :rows], out=dgi3[:, 0])                   # dgi_r = d(r h_in) σ'(r) h_in
            d_rz = d_gi[t, :rows, :2 * H]
            if ln_hh_weight is not None:
                d_rz = layer_norm_backward(d_rz * ln_hh_weight[:2 * H], z_all[t, :rows, :2 * H], H, stats[2 * t])
                dz_all[t, :rows, :2 * H] = d_rz
        base = dh_t * gates[t, :rows, H:2 * H]                                # through z h_{t-1}
        if t > 0:
            base += d_y[t - 1, :rows]
        if carry is not None:
            base += carry
        if spec.reset_after:
            recurrent_input_grad(d_pre, back, mask, rows, base, out=dh[:rows])
        else:
            d_in = d_rh.mul_(gates[t, :rows, :H]).add_(back_rz(d_rz))        # dL/dh_in = d(r h_in) r + dgi_rz W_rz
            masked_add(base, d_in, mask, rows, out=dh[:rows])
    if spec.reset_after:
        d_gi[..., :2 * H] = d_gh[..., :2 * H]                                 # gi_rz and gh_rz enter alike
    vector = {}
    if bias_hh is not None:
        vector["bias_hh"] = d_gh.sum((0, 1))
    if ln_hh_weight is not None:
        d_gate = d_gh if spec.reset_after else d_gi                            # dL/d(the normalised product)
        blocks = [(0, 3 * H)] if spec.reset_after else [(0, 2 * H), (2 * H, 3 * H)]
        vector["ln_hh"] = torch.cat([(d_gate[..., a:b] * normalised(z_all[..., a:b], H)).sum((0, 1))
                                     for a, b in blocks])
    return vector


def _native_forward(loops, z_in, ln_ih_weight, bias_in, h0, weight_hh, bias_hh, ln_hh_weight, mask, d_h,
                    spec: GRUSpec, timeline: Timeline, buf, save):
    """The forward step loop in C++, which also writes the backward factors (``save``).

    Returns ``((hh statistics (T, B, 6), input statistics (T, B, 3, 2)), (P_hh, P_in) or None)``: the
    layer-norms' mean and rstd per block where used.
    """
    T, B, H3 = z_in.shape
    H = H3 // 3
    gi = z_in
    stats = gi.new_zeros(T, B, 6) if ln_hh_weight is not None else None
    x_stats = gi.new_zeros(T, B, 3, 2) if ln_ih_weight is not None else None
    factors = None
    if save:
        shapes = ((T, B, 3, H), (T, B, H)) if spec.reset_after else ((T, B, H), (T, B, 2, H))
        factors = tuple(gi.new_empty(shape) for shape in shapes)
    ids = native.ACTIVATION_IDS
    loops.gru_forward(gi, h0.contiguous(), weight_hh.contiguous(), _contiguous(bias_hh), _contiguous(ln_hh_weight),
                      mask, *native.zoneout_args(d_h), spec.reset_after, ids[spec.sigma], ids[spec.phi],
                      timeline.batch_sizes, buf.gates, buf.y, buf.h_in_all, buf.z_all, buf.rh_all, stats,
                      *(factors or (None, None)), *_packed(loops, weight_hh, spec, B, transposed=False),
                      _contiguous(ln_ih_weight), _contiguous(bias_in), x_stats)
    return (stats, x_stats), factors


def _native_backward(loops, saved, stats, weight_hh, bias_hh, ln_hh_weight, mask, d_h, spec: GRUSpec,
                     timeline: Timeline, d_y, grad) -> dict:
    """The reversed step loop in C++, filling ``grad``; returns the gradients of the vector parameters
    (summed inside the loop) and of ``z_in``."""
    hh_stats, x_stats = stats
    vector = {key: param.new_empty(param.shape) for key, param in
              zip(("bias_hh", "ln_hh", "ln_ih", "bias_in"), (bias_hh, ln_hh_weight, saved.ln_ih_weight, saved.bias_in))
              if param is not None}
    layer_norm_in = saved.ln_ih_weight is not None
    vector["z_in"] = timeline.scratch(saved.z_in, *saved.z_in.shape) if layer_norm_in else grad.d_gi
    loops.gru_backward(saved.P_hh, saved.P_in, saved.gates, saved.z_all, hh_stats, weight_hh.contiguous(),
                       _contiguous(bias_hh), _contiguous(ln_hh_weight), mask, *native.zoneout_args(d_h),
                       spec.reset_after, timeline.batch_sizes, d_y, grad.dh, grad.d_gi, grad.d_gh, grad.dz_all,
                       vector.get("bias_hh"), vector.get("ln_hh"), *_packed(loops, weight_hh, spec, d_y.shape[1], True),
                       saved.z_in, _contiguous(saved.ln_ih_weight), _contiguous(saved.bias_in), x_stats,
                       vector["z_in"] if layer_norm_in else None, vector.get("ln_ih"), vector.get("bias_in"))
    return vector


def _packed(loops, weight_hh, spec: GRUSpec, rows: int, transposed: bool):
    """The recurrent weights packed for oneDNN (or None): all of W_hh, or its (r, z) and n rows."""
    H = weight_hh.shape[1]
    parts = [weight_hh] if spec.reset_after else [weight_hh[:2 * H], weight_hh[2 * H:]]
    packed = [native.packed(loops, part.t() if transposed else part, rows) for part in parts]
    return packed + [None] * (2 - len(packed))


def _contiguous(tensor):
    return None if tensor is None else tensor.contiguous()


def _product(inp, product: gemm.StepProduct, ln_weight, z_all, t, rows, H, stats, shift, out):
    """``out = shift + inp W^T`` or, with layer norm, ``shift + LNb(inp W^T) ln_weight`` (keeping z, stats)."""
    if ln_weight is None:
        return product(inp, out=out, shift=shift)
    z = product(inp, out=z_all[t, :rows])
    z_hat, step_stats = layer_norm(z, H)
    stats.append(step_stats)
    if shift is None:
        return torch.mul(z_hat, ln_weight, out=out)
    return torch.addcmul(shift, z_hat, ln_weight, out=out)


def _rows(vector, start, stop):
    return None if vector is None else vector[start:stop]


def _cols(buffer, start, stop):
    return None if buffer is None else buffer[..., start:stop]


def _backward_factors(gates, h_prev, h_in, gh_all, spec: GRUSpec, H: int):
    """``(P_hh, P_in)`` of the module docstring for all steps at once.

    reset_after=True: ``P_hh = [Pr, Pz, Pn r] (T, B, 3, H)``, ``P_in = Pn (T, B, H)``.
    reset_after=False: ``P_hh = σ'(r) h_in (T, B, H)``, ``P_in = [Pz, Pn] (T, B, 2, H)``.
    """
    sig, phi = KERNEL_ACTIVATIONS[spec.sigma], KERNEL_ACTIVATIONS[spec.phi]
    T, B = gates.shape[:2]
    r, z, n = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
    Pn = phi.derivative(n).mul_(1.0 - z)                                      # (1 - z) φ'(n)
    Pz = sig.derivative(z).mul_(h_prev - n)                                   # (h_{t-1} - n) σ'(z)
    if spec.reset_after:
        P_hh = gates.new_empty(T, B, 3, H)
        torch.mul(Pn, gh_all[..., 2 * H:], out=P_hh[:, :, 0]).mul_(sig.derivative(r))   # Pn gh_n σ'(r)
        P_hh[:, :, 1] = Pz
        torch.mul(Pn, r, out=P_hh[:, :, 2])
        return P_hh, Pn
    return sig.derivative(r).mul_(h_in), torch.stack([Pz, Pn], dim=2)


def _weight_grad(grad, h_in_all, h0, y, rh_all, layer_norm: bool, spec: GRUSpec, H: int) -> torch.Tensor:
    """dL/dweight_hh ``(3H, H)`` as GEMMs over all steps: ``sum_t dgh_t^T h_in_t`` (reset_after), or the r, z
    rows from h_in and the n rows from ``r h_in``."""
    if spec.reset_after:
        return recurrent_weight_grad(grad.dz_all if layer_norm else grad.d_gh, h_in_all, h0, y)
    d_rz, d_n = (grad.dz_all if layer_norm else grad.d_gi).split([2 * H, H], dim=-1)
    return torch.cat([recurrent_weight_grad(d_rz, h_in_all, h0, y), gemm.weight_grad(d_n, rh_all)])
