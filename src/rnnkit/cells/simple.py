"""The simple (Elman) RNN cell."""
from __future__ import annotations

from .activations import Activation, resolve
from .base import RecurrentCell


class SimpleRNNCell(RecurrentCell):
    r"""Elman cell: ``s_t = f(U x_t + W s_{t-1} + b)``.

    In code names::

        h_t = f(x_t weight_ih^T + bias_ih + h_{t-1} weight_hh^T + bias_hh),   y_t = h_t

    Arguments:
        input_size: I.  hidden_size: H.  bias: create ``bias_ih``/``bias_hh`` (H).
        nonlinearity: f, ``"tanh"`` (default), ``"relu"``, another name of
            :mod:`rnnkit.cells.activations` or a callable.
        device, dtype: the parameters' (``torch.nn``'s factory arguments).
    Shapes: ``weight_ih (H, I)`` (the textbook's U), ``weight_hh (H, H)`` (W);
    ``x_t (B, I)``, state ``h (B, H)``, ``y_t (B, H)``.
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: Activation = "tanh", *, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, layer_norm=False, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._f = resolve(nonlinearity, "nonlinearity")
        self.reset_parameters()

    @property
    def state_size(self) -> int:
        return self.hidden_size

    def step(self, x_proj, h_prev, recurrent_mask=None):
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        h = self._f(x_proj + self.project_hidden(h_in))  # (B, H)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, nonlinearity={self.nonlinearity!r}"
