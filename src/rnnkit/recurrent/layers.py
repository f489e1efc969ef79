"""Ready sequence layers: ``SimpleRNN``, ``LSTM``, ``GRU`` — stacked, bidirectional, regularised.

A layer holds one cell per (layer, direction) and runs them with :func:`run_sequence`.
Its ``state_dict`` uses ``torch.nn.RNN/LSTM/GRU``'s keys (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0``, ...), so for the standard configuration a ``torch.nn`` state dict loads with
``strict=True`` and gives the same outputs.
"""
from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks, kernels
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells.base import RecurrentCell, conform_state, map_state
from . import regularization
from .loop import run_direction

_CELL_KEY = re.compile(r"^cells\.(\d+)\.(\w+)$")
_TORCH_KEY = re.compile(r"^(\w+?)_l(\d+)(_reverse)?$")


class RecurrentLayer(nn.Module):
    """Base of SimpleRNN / LSTM / GRU: ``num_layers`` × (1 or 2 directions) cells of ``cell_class``.

    Arguments:
        input_size: I.  hidden_size: H.
        num_layers: L stacked layers; layer k > 0 reads layer k-1's outputs ([fwd; bwd] if bidirectional).
        bidirectional: D = 2 directions; the backward one reads each row's valid steps reversed.
        batch_first: ``x (B, T, I)`` if True, else ``(T, B, I)``.
        dropout: dropout on the outputs of every layer but the last (training only), as torch.nn.
        locked_dropout: that dropout draws one mask per sequence, ``(B, 1, D*R)`` the same at every step
            (``recurrent.regularization.locked_dropout``), instead of one per element.
        recurrent_dropout: variational dropout on ``h_{t-1}``, one mask per sequence and cell.
        zoneout: zoneout rate on the state (training: random; evaluation: the expectation).
        weight_drop: DropConnect rate on every cell's ``weight_hh`` in training: one Bernoulli mask per
            cell and call, survivors scaled by ``1/(1-p)`` (``F.dropout`` on the weight, as AWD-LSTM);
            evaluation uses ``weight_hh`` itself. It changes the weights, not the step: the path stays
            the same (fused for the standard configuration); see ``recurrent.regularization``.
        device, dtype: the parameters' (``torch.nn``'s factory arguments; ``device="meta"`` allocates nothing).
        **cell_options: passed to every cell (``bias``, and the cell's variant options).

    ``forward(x, state=None, lengths=None) -> (outputs, final_state)``:
        x: ``(B, T, I)``; lengths: ``(B,)`` valid steps per row (right padding), 1 <= len <= T.
        state: ``(L*D, B, R)``, for LSTM ``LSTMState(h (L*D, B, R), c (L*D, B, H))``; None is zeros.
        outputs: ``(B, T, D*R)``, zero at padded steps. final_state: like ``state``, taken at each
        row's last valid step. Row order of the state is ``layer * D + direction``, as torch.nn.
        An LSTM state may be any pair ``(h, c)``. ``x`` and ``state`` have the parameters' dtype and device
        (under autocast also the autocast dtype); anything else raises ValueError naming the argument.

    ``forward`` runs torch's fused op for the standard configuration, a BPTT kernel for the variants
    and regularisers, the per-step loop otherwise; ``fast_path`` says which and why (rnnkit.kernels).
    """

    cell_class: type[RecurrentCell] = RecurrentCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 batch_first: bool = True, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 zoneout: float = 0.0, weight_drop: float = 0.0, locked_dropout: bool = False, *, device=None,
                 dtype=None, **cell_options: Any):
        super().__init__()
        self.input_size = _checks.check_size(input_size, "input_size")
        self.hidden_size = _checks.check_size(hidden_size, "hidden_size")
        self.num_layers = _checks.check_size(num_layers, "num_layers")
        self.bidirectional = _checks.check_flag(bidirectional, "bidirectional")
        self.batch_first = _checks.check_flag(batch_first, "batch_first")
        self.num_directions = 2 if self.bidirectional else 1
        self.dropout = _checks.check_probability(dropout, "dropout")
        self.recurrent_dropout = _checks.check_probability(recurrent_dropout, "recurrent_dropout")
        self.zoneout = _checks.check_probability(zoneout, "zoneout")
        self.weight_drop = _checks.check_probability(weight_drop, "weight_drop")
        self.locked_dropout = _checks.check_flag(locked_dropout, "locked_dropout")
        self.cell_options = dict(cell_options)
        cells = []
        for layer in range(self.num_layers):
            for _ in range(self.num_directions):
                layer_input = self.input_size if layer == 0 else self.num_directions * cells[-1].output_size
                cells.append(self.cell_class(layer_input, self.hidden_size, device=device, dtype=dtype,
                                             **cell_options))
        self.cells = nn.ModuleList(cells)
        self._register_state_dict_hook(_to_torch_keys)
        self._register_load_state_dict_pre_hook(_from_torch_keys, with_module=True)

    def reset_parameters(self) -> None:
        """Every cell's initialisation again (e.g. after ``to_empty`` from the meta device)."""
        for cell in self.cells:
            cell.reset_parameters()

    @property
    def output_size(self) -> int:
        """R: the size of each direction's output (``proj_size`` or H)."""
        return self.cells[0].output_size

    def cell(self, layer: int, direction: int = 0) -> RecurrentCell:
        """The cell of ``layer`` and ``direction`` (0 forward, 1 backward)."""
        return self.cells[layer * self.num_directions + direction]

    @property
    def fast_path(self) -> str:
        """Which path ``forward`` runs now and, if not fused, why: ``"fused (torch.lstm)"``,
        ``"bptt kernel (peephole, zoneout)"``, ``"autograd loop (user activation callable)"``, ...
        (recurrent dropout changes the computation only in training, so it depends on the mode)."""
        return self._path().label

    def _path(self, lengths: bool = False, symbolic: bool = False) -> kernels.Path:
        return kernels.choose_path(self.cells, recurrent_dropout=self.recurrent_dropout, zoneout=self.zoneout,
                                   training=self.training, lengths=lengths, symbolic=symbolic)

    def forward(self, x: torch.Tensor, state: Any = None, lengths=None) -> tuple[torch.Tensor, Any]:
        batch, time = _checks.check_sequence(x, self.input_size, self.batch_first, self.cells[0].weight_ih)
        if not self.batch_first:
            x = x.transpose(0, 1)                                                  # (B, T, I)
        lengths = _checks.check_lengths(lengths, batch, time, x.device)
        if state is not None:
            state = conform_state(state, self.cells[0].state_size, (len(self.cells), batch), "state",
                                  self.cells[0].weight_ih)
        path = self._path(lengths is not None, _checks.symbolic(x)).kind
        with regularization.dropped_recurrent_weights(self.cells, self.weight_drop if self.training else 0.0):
            if path == kernels.FUSED and not (self.locked_dropout and self.dropout):
                outputs, final_state = kernels.run_fused(self.cells, x, state, lengths, num_layers=self.num_layers,
                                                         bidirectional=self.bidirectional, dropout=self.dropout,
                                                         training=self.training)    # (B, T, D*R)
            else:
                outputs, final_state = self._run_cells(x, self._split_state(state, batch, x), lengths, path)
        return (outputs if self.batch_first else outputs.transpose(0, 1)), final_state

    def _run_cells(self, x: torch.Tensor, states: list[Any], lengths: torch.Tensor | None,
                   path: str) -> tuple[torch.Tensor, Any]:
        """Layer by layer, direction by direction, each cell through ``path`` (fused op, BPTT kernel or loop)."""
        finals = []
        layer_input = x
        drop = regularization.locked_dropout if self.locked_dropout else F.dropout
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout:
                layer_input = drop(layer_input, self.dropout, self.training)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                y, final = run_direction(self.cells[k], layer_input, states[k], lengths,
                                         reverse=direction == 1, recurrent_dropout=self.recurrent_dropout,
                                         zoneout=self.zoneout, training=self.training, path=path)
                outputs.append(y)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]  # (B, T, D*R)
        return layer_input, map_state(lambda *leaves: torch.stack(leaves), *finals)     # (L*D, B, .)

    def _split_state(self, state: Any, batch: int, x: torch.Tensor) -> list[Any]:
        """One state per cell from a checked ``state (L*D, B, .)``, or zeros for None."""
        if state is None:
            return [cell.init_state(batch, device=x.device, dtype=x.dtype) for cell in self.cells]
        return [map_state(lambda leaf: leaf[k], state) for k in range(len(self.cells))]

    def __getattr__(self, name: str):
        """torch.nn-style access to parameters: ``layer.weight_ih_l0``, ``layer.bias_hh_l1_reverse``."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            match = _TORCH_KEY.match(name)
            cells = self._modules.get("cells")
            if match and cells is not None:
                k = int(match[2]) * self.num_directions + (1 if match[3] else 0)
                if k < len(cells) and (not match[3] or self.bidirectional):
                    param = getattr(cells[k], match[1], None)
                    if isinstance(param, torch.Tensor):
                        return param
            raise

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}"]
        for key, default in (("num_layers", 1), ("bidirectional", False), ("batch_first", True),
                             ("dropout", 0.0), ("recurrent_dropout", 0.0), ("zoneout", 0.0), ("weight_drop", 0.0),
                             ("locked_dropout", False)):
            if getattr(self, key) != default:
                options.append(f"{key}={getattr(self, key)!r}")
        options += [f"{k}={v!r}" for k, v in self.cell_options.items()]
        return ", ".join(options)


def _torch_key(layer: RecurrentLayer, cell_index: int, name: str) -> str:
    layer_index, direction = divmod(cell_index, layer.num_directions)
    return f"{name}_l{layer_index}{'_reverse' if direction else ''}"


def _to_torch_keys(module: RecurrentLayer, state_dict: dict, prefix: str, local_metadata: Any) -> None:
    """state_dict hook: ``cells.3.weight_ih`` -> ``weight_ih_l1_reverse`` (torch.nn's keys)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _CELL_KEY.match(key[len(prefix):])
        if match:
            state_dict[prefix + _torch_key(module, int(match[1]), match[2])] = state_dict.pop(key)


def _from_torch_keys(module: RecurrentLayer, state_dict: dict, prefix: str, *args: Any) -> None:
    """load_state_dict pre-hook: the inverse of :func:`_to_torch_keys`; unknown keys stay (strict reports them)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _TORCH_KEY.match(key[len(prefix):])
        if match:
            k = int(match[2]) * module.num_directions + (1 if match[3] else 0)
            if k < len(module.cells) and (not match[3] or module.bidirectional):
                state_dict[f"{prefix}cells.{k}.{match[1]}"] = state_dict.pop(key)


class SimpleRNN(RecurrentLayer):
    """Stacked / bidirectional Elman RNN: each cell is a :class:`~rnnkit.SimpleRNNCell`.

    ``h_t = f(x_t weight_ih^T + bias_ih + h_{t-1} weight_hh^T + bias_hh)``; cell options:
    ``bias=True``, ``nonlinearity="tanh"``. See :class:`RecurrentLayer` for arguments and shapes.
    """

    cell_class = SimpleRNNCell


class LSTM(RecurrentLayer):
    """Stacked / bidirectional LSTM: each cell is a :class:`~rnnkit.LSTMCell` (all its variants).

    Cell options: ``bias, forget_bias, peephole, forget_gate, coupled, layer_norm, proj_size,
    activation, recurrent_activation``. The state is ``LSTMState(h (L*D, B, R), c (L*D, B, H))``.
    See :class:`RecurrentLayer` for arguments and shapes.
    """

    cell_class = LSTMCell

    @property
    def proj_size(self) -> int:
        return self.cells[0].proj_size


class GRU(RecurrentLayer):
    """Stacked / bidirectional GRU: each cell is a :class:`~rnnkit.GRUCell`.

    Cell options: ``bias, reset_after, layer_norm, activation, recurrent_activation``.
    See :class:`RecurrentLayer` for arguments and shapes.
    """

    cell_class = GRUCell
