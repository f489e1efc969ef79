"""The LSTM cell and its textbook variants."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks
from .activations import Activation, resolve
from .base import LAYER_NORM_EPS, RecurrentCell


class LSTMState(NamedTuple):
    """LSTM state: ``h (B, R)`` (R = proj_size or H) and the cell ``c (B, H)``."""

    h: torch.Tensor
    c: torch.Tensor


class LSTMCell(RecurrentCell):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997) with its variants.

    Gates ``i, f, g, o`` (PyTorch's order); σ = ``recurrent_activation``, φ = ``activation``::

        a   = x_t weight_ih^T + h_{t-1} weight_hh^T + bias_ih + bias_hh           (B, G*H)
        i   = σ(a_i [+ weight_ci * c_{t-1}])
        f   = σ(a_f + forget_bias [+ weight_cf * c_{t-1}])
        g   = φ(a_g)
        c_t = f * c_{t-1} + i * g
        o   = σ(a_o [+ weight_co * c_t])
        h_t = o * φ(c_t)                        [then h_t = h_t weight_hr^T with proj_size]

    Variants (combinable; see docs/cells.md for the full equations):
        forget_bias: constant added to the forget pre-activation (TensorFlow's; not an initialiser).
        peephole: diagonal peepholes ``weight_ci, weight_cf, weight_co (H)`` (Gers & Schmidhuber 2000).
        forget_gate=False: the original 1997 LSTM, ``c_t = c_{t-1} + i * g``; gates ``i, g, o``.
        coupled: ``f = 1 - i`` (coupled input-forget gate); gates ``i, g, o``.
        layer_norm: Ba et al. 2016, ``a = LNb(x W_ih^T) ln_ih_weight + LNb(h W_hh^T) ln_hh_weight + b``
            per gate block, and ``h_t = o * φ(LN(c_t) ln_cell_weight + ln_cell_bias)``.
        proj_size: P > 0 projects ``h_t`` with ``weight_hr (P, H)`` as ``torch.nn.LSTM`` does.
        activation / recurrent_activation: names (``"hard_sigmoid"`` is Keras 3's) or callables.
        device, dtype: the parameters' (``torch.nn``'s factory arguments).

    Shapes: ``weight_ih (G*H, I)``, ``weight_hh (G*H, R)``; ``x_t (B, I)``;
    state ``LSTMState(h (B, R), c (B, H))``; ``y_t = h_t (B, R)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 0.0,
                 peephole: bool = False, forget_gate: bool = True, coupled: bool = False,
                 layer_norm: bool = False, proj_size: int = 0, activation: Activation = "tanh",
                 recurrent_activation: Activation = "sigmoid", *, device=None, dtype=None):
        hidden_size = _checks.check_size(hidden_size, "hidden_size")
        proj_size = _checks.check_size(proj_size, "proj_size", minimum=0)
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size: expected an integer in [0, hidden_size={hidden_size}), got {proj_size!r}")
        peephole, forget_gate, coupled = (_checks.check_flag(value, name) for value, name in
                                          ((peephole, "peephole"), (forget_gate, "forget_gate"), (coupled, "coupled")))
        if coupled and not forget_gate:
            raise ValueError("coupled: f = 1 - i needs forget_gate=True; got coupled=True with forget_gate=False")
        self.has_forget_gate = forget_gate and not coupled
        forget_bias = _checks.check_real(forget_bias, "forget_bias")
        if forget_bias and not self.has_forget_gate:
            raise ValueError(f"forget_bias: must be 0 without a forget gate (forget_gate={forget_gate}, "
                             f"coupled={coupled}), got {forget_bias!r}")
        self.num_gates = 4 if self.has_forget_gate else 3
        super().__init__(input_size, hidden_size, bias, layer_norm, recurrent_size=proj_size or hidden_size,
                         device=device, dtype=dtype)
        self.forget_bias = forget_bias
        self.peephole, self.forget_gate, self.coupled = peephole, forget_gate, coupled
        self.proj_size = proj_size
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self._phi = resolve(activation, "activation")
        self._sigma = resolve(recurrent_activation, "recurrent_activation")
        H = hidden_size
        self.weight_ci = self._vector(H, peephole)
        self.weight_cf = self._vector(H, peephole and self.has_forget_gate)
        self.weight_co = self._vector(H, peephole)
        self.ln_cell_weight = self._vector(H, self.layer_norm)
        self.ln_cell_bias = self._vector(H, self.layer_norm)
        self.weight_hr = nn.Parameter(self.weight_ih.new_empty(proj_size, H)) if proj_size else None
        self._standard = (self.has_forget_gate and not (peephole or self.layer_norm or proj_size or forget_bias)
                          and self._phi is torch.tanh and self._sigma is torch.sigmoid)
        self.reset_parameters()

    @property
    def state_size(self) -> LSTMState:
        return LSTMState(self.output_size, self.hidden_size)

    def step_input(self, x_t, state, recurrent_mask=None):
        """As :meth:`RecurrentCell.step_input`; the standard cell (no variant) takes torch's fused ``lstm_cell``."""
        if not self._standard or recurrent_mask is not None:
            return super().step_input(x_t, state, recurrent_mask)
        h, c = torch.lstm_cell(x_t, tuple(state), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h, LSTMState(h, c)

    def step(self, x_proj, state, recurrent_mask=None):
        h_prev, c_prev = state                                          # (B, R), (B, H)
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        a = x_proj + self.project_hidden(h_in)                          # (B, G*H)
        if self.has_forget_gate:
            a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
        else:
            a_i, a_g, a_o = a.chunk(3, dim=1)
        i = self._sigma(a_i if self.weight_ci is None else a_i + self.weight_ci * c_prev)
        g = self._phi(a_g)
        if self.has_forget_gate:
            a_f = a_f + self.forget_bias if self.forget_bias else a_f
            f = self._sigma(a_f if self.weight_cf is None else a_f + self.weight_cf * c_prev)
            c = f * c_prev + i * g
        elif self.coupled:
            c = (1.0 - i) * c_prev + i * g
        else:
            c = c_prev + i * g
        o = self._sigma(a_o if self.weight_co is None else a_o + self.weight_co * c)
        c_out = c if self.ln_cell_weight is None else F.layer_norm(
            c, (self.hidden_size,), self.ln_cell_weight, self.ln_cell_bias, LAYER_NORM_EPS)
        h = o * self._phi(c_out)                                        # (B, H)
        if self.weight_hr is not None:
            h = F.linear(h, self.weight_hr)                             # (B, P)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}", f"bias={self.bias}"]
        defaults = dict(forget_bias=0.0, peephole=False, forget_gate=True, coupled=False, layer_norm=False,
                        proj_size=0, activation="tanh", recurrent_activation="sigmoid")
        options += [f"{k}={getattr(self, k)!r}" for k, v in defaults.items() if getattr(self, k) != v]
        return ", ".join(options)
