"""rnnkit: recurrent neural networks, correct to the last gradient.

Public API: cells (one step), the time loop ``RNN``, the ready layers and ``Bidirectional``.
Tensors are batch-first ``(B, T, F)``; right padding is given by ``lengths (B,)``.

The names load on first use (PEP 562), so ``import rnnkit`` and ``rnnkit --help`` do not import torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "GRUCell": ".cells", "LSTMCell": ".cells", "LSTMState": ".cells", "SimpleRNNCell": ".cells",
    "GRU": ".recurrent", "LSTM": ".recurrent", "RNN": ".recurrent", "Bidirectional": ".recurrent",
    "SimpleRNN": ".recurrent", "reverse_padded": ".recurrent", "set_checks": "._checks",
}

_SUBPACKAGES = {"cells", "data", "diagnostics", "interop", "keras", "kernels", "nn", "recurrent", "reference",
                "structured", "tasks", "train"}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from ._checks import set_checks
    from .cells import GRUCell, LSTMCell, LSTMState, SimpleRNNCell
    from .recurrent import GRU, LSTM, RNN, Bidirectional, SimpleRNN, reverse_padded


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
