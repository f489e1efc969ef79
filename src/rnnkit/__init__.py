"""rnnkit: recurrent neural networks, correct to the last gradient.

Public API (see DESIGN.md §2): cells (one step), the time loop ``RNN``, the ready layers and
``Bidirectional``. Tensors are batch-first ``(B, T, F)``; right padding is given by ``lengths (B,)``.
"""
from .cells import GRUCell, LSTMCell, LSTMState, SimpleRNNCell
from .recurrent import GRU, LSTM, RNN, Bidirectional, SimpleRNN, reverse_padded

__version__ = "0.1.0"

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "LSTMState", "RNN", "Bidirectional", "SimpleRNN",
    "SimpleRNNCell", "reverse_padded",
]
