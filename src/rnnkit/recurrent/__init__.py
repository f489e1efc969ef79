"""The time loop and the ready layers built on it."""
from .bidirectional import Bidirectional
from .layers import GRU, LSTM, RecurrentLayer, SimpleRNN
from .loop import RNN, reverse_padded

__all__ = ["GRU", "LSTM", "RNN", "Bidirectional", "RecurrentLayer", "SimpleRNN", "reverse_padded"]
