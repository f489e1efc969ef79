"""The gated recurrent unit."""
from __future__ import annotations

from .. import _checks
from .activations import Activation, resolve
from .base import RecurrentCell


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit (Cho et al. 2014). Gates ``r, z, n`` (PyTorch's order)::

        gi  = x_t weight_ih^T + bias_ih                          (B, 3H)
        gh  = h_{t-1} weight_hh^T + bias_hh                      (B, 3H)
        r   = σ(gi_r + gh_r)
        z   = σ(gi_z + gh_z)
        n   = φ(gi_n + r * gh_n)                                 reset_after=True (PyTorch, cuDNN, Keras 3)
        n   = φ(gi_n + (r * h_{t-1}) weight_hh_n^T + bias_hh_n)  reset_after=False (Cho et al.)
        h_t = (1 - z) * n + z * h_{t-1}

    layer_norm: ``gi = LNb(x W_ih^T) ln_ih_weight + bias_ih`` and likewise for every recurrent
    product (per gate block; Ba et al. 2016). σ = ``recurrent_activation``, φ = ``activation``.

    ``device`` and ``dtype`` are the parameters' (``torch.nn``'s factory arguments).
    Shapes: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``; ``x_t (B, I)``, state ``h (B, H)``, ``y_t = h_t``.
    """

    num_gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True,
                 layer_norm: bool = False, activation: Activation = "tanh",
                 recurrent_activation: Activation = "sigmoid", *, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, layer_norm, device=device, dtype=dtype)
        self.reset_after = _checks.check_flag(reset_after, "reset_after")
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self._phi = resolve(activation, "activation")
        self._sigma = resolve(recurrent_activation, "recurrent_activation")
        self.reset_parameters()

    @property
    def state_size(self) -> int:
        return self.hidden_size

    def step(self, x_proj, h_prev, recurrent_mask=None):
        H = self.hidden_size
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        gi_r, gi_z, gi_n = x_proj.chunk(3, dim=1)                        # (B, H) each
        if self.reset_after:
            gh_r, gh_z, gh_n = self.project_hidden(h_in).chunk(3, dim=1)
            r = self._sigma(gi_r + gh_r)
            n_pre = gi_n + r * gh_n
        else:
            gh_r, gh_z = self.project_hidden(h_in, slice(0, 2 * H)).chunk(2, dim=1)
            r = self._sigma(gi_r + gh_r)
            n_pre = gi_n + self.project_hidden(r * h_in, slice(2 * H, 3 * H))
        z = self._sigma(gi_z + gh_z)
        n = self._phi(n_pre)
        h = (1.0 - z) * n + z * h_prev                                   # (B, H)
        return h, h

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}", f"bias={self.bias}"]
        defaults = dict(reset_after=True, layer_norm=False, activation="tanh", recurrent_activation="sigmoid")
        options += [f"{k}={getattr(self, k)!r}" for k, v in defaults.items() if getattr(self, k) != v]
        return ", ".join(options)
