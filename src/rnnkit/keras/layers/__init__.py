"""Keras-compatible layers on rnnkit's cores (``from rnnkit.keras import layers``)."""
from .base import Layer, Variable
from .cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .core import Activation, Dense, Dropout, Embedding, Flatten, Masking
from .input import Input, InputLayer
from .rnn import GRU, LSTM, RNN, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU", "LSTM", "RNN", "Activation", "Bidirectional", "Dense", "Dropout", "Embedding", "Flatten", "GRUCell",
    "Input", "InputLayer", "LSTMCell", "Layer", "Masking", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells",
    "TimeDistributed", "Variable",
]
