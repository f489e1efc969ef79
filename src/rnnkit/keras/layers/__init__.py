"""Keras-compatible layers on rnnkit's cores (``from rnnkit.keras import layers``)."""
from .base import Layer, Variable
from .cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .conv import Conv1D, Conv2D, GlobalAveragePooling2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Embedding, Flatten, Masking
from .input import Input, InputLayer
from .lambda_layer import Lambda
from .merging import Add, Concatenate
from .reshaping import RepeatVector, Reshape
from .rnn import GRU, LSTM, RNN, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU", "LSTM", "RNN", "Activation", "Add", "Bidirectional", "Concatenate", "Conv1D", "Conv2D", "Dense",
    "Dropout", "Embedding", "Flatten", "GRUCell", "GlobalAveragePooling2D", "Input", "InputLayer", "LSTMCell",
    "Lambda", "Layer", "Masking", "MaxPooling2D", "RepeatVector", "Reshape", "SimpleRNN", "SimpleRNNCell",
    "StackedRNNCells", "TimeDistributed", "Variable",
]
