"""``torch.nn.RNN`` / ``LSTM`` / ``GRU`` to rnnkit layers and back, and whole-model state dicts.

rnnkit's layers use torch.nn's parameter names, shapes and gate orders, so a standard
configuration loads a ``torch.nn`` state dict with ``strict=True`` and gives the same outputs;
these helpers build the matching layer on either side and move the weights.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import GRU, LSTM, SimpleRNN
from ..cells.activations import name_of
from ..recurrent.layers import RecurrentLayer

_TORCH_TO_RNNKIT = {nn.RNN: SimpleRNN, nn.LSTM: LSTM, nn.GRU: GRU}
_DEFAULTS = {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True, "layer_norm": False,
             "peephole": False, "forget_gate": True, "coupled": False, "forget_bias": 0.0}


def from_torch(module: nn.RNN | nn.LSTM | nn.GRU) -> RecurrentLayer:
    """The rnnkit layer equal to a ``torch.nn.RNN/LSTM/GRU``, with its weights (strict load).

    Raises:
        ValueError: not one of those three modules.
    """
    layer_class = _TORCH_TO_RNNKIT.get(type(module))
    if layer_class is None:
        raise ValueError(f"module: expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    options: dict[str, Any] = {"bias": module.bias}
    if isinstance(module, nn.RNN):
        options["nonlinearity"] = module.nonlinearity
    if isinstance(module, nn.LSTM) and module.proj_size:
        options["proj_size"] = module.proj_size
    layer = layer_class(module.input_size, module.hidden_size, num_layers=module.num_layers,
                        bidirectional=module.bidirectional, batch_first=module.batch_first,
                        dropout=float(module.dropout), **options)
    parameter = next(module.parameters())
    layer.to(device=parameter.device, dtype=parameter.dtype)
    layer.load_state_dict(module.state_dict(), strict=True)
    return layer


def _torch_class(layer: RecurrentLayer) -> type:
    for torch_class, layer_class in _TORCH_TO_RNNKIT.items():
        if type(layer) is layer_class:
            return torch_class
    raise ValueError(f"layer: expected rnnkit.SimpleRNN, LSTM or GRU, got {type(layer).__name__}")


def _variants(cell: nn.Module) -> list[str]:
    """The options of a cell that torch.nn's modules do not have."""
    found = []
    for name, default in _DEFAULTS.items():
        if hasattr(cell, name):
            value = getattr(cell, name)
            if (name_of(value) if name.endswith("activation") else value) != default:
                found.append(f"{name}={value!r}")
    if hasattr(cell, "nonlinearity") and name_of(cell.nonlinearity) not in ("tanh", "relu"):
        found.append(f"nonlinearity={cell.nonlinearity!r}")
    return found


def to_torch(layer: RecurrentLayer) -> nn.RNN | nn.LSTM | nn.GRU:
    """The ``torch.nn`` module equal to an rnnkit layer in the standard configuration, with its weights.

    Training-only regularisers (``recurrent_dropout``, ``zoneout``) have no torch.nn counterpart and
    do not change inference, so they are left behind; inter-layer ``dropout`` carries over.

    Raises:
        ValueError: a variant torch.nn cannot compute (layer norm, peepholes, other activations, ...).
    """
    torch_class = _torch_class(layer)
    cell = layer.cells[0]
    variants = _variants(cell)
    if variants:
        raise ValueError(f"layer: torch.nn.{torch_class.__name__} cannot compute {', '.join(variants)}")
    options: dict[str, Any] = {"bias": cell.bias}
    if isinstance(layer, SimpleRNN):
        options["nonlinearity"] = name_of(cell.nonlinearity)
    if isinstance(layer, LSTM) and layer.proj_size:
        options["proj_size"] = layer.proj_size
    module = torch_class(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
                         bidirectional=layer.bidirectional, batch_first=layer.batch_first, dropout=layer.dropout,
                         **options)
    parameter = next(layer.parameters())
    module.to(device=parameter.device, dtype=parameter.dtype)
    module.load_state_dict({key: getattr(layer, key).detach() for key in module.state_dict()}, strict=True)
    return module


def torch_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` where every rnnkit recurrent layer inside shows all of torch.nn's tensors.

    Layers whose cells hold a fixed zero ``bias_hh`` buffer instead of a parameter (the Keras
    front's single-bias cells) get that zero bias written out, so a twin model built from
    ``torch.nn`` modules under the same attribute names loads the result with ``strict=True``.
    """
    state = model.state_dict()
    for prefix, module in model.named_modules():
        if isinstance(module, RecurrentLayer):
            base = f"{prefix}." if prefix else ""
            for key in to_torch_keys(module):
                state.setdefault(base + key, getattr(module, key).detach())
    return state


def to_torch_keys(layer: RecurrentLayer) -> list[str]:
    """torch.nn's state-dict keys for a layer of this shape (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...)."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if layer.cells[0].bias else [])
    if isinstance(layer, LSTM) and layer.proj_size:
        names.append("weight_hr")
    return [f"{name}_l{index}{suffix}" for index in range(layer.num_layers)
            for suffix in ([""] + (["_reverse"] if layer.bidirectional else [])) for name in names]
