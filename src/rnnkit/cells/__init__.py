"""One time step of one cell: ``cell(x_t, state) -> (y_t, new_state)``. No time axis here."""
from .activations import ACTIVATIONS
from .base import RecurrentCell
from .gru import GRUCell
from .lstm import LSTMCell, LSTMState
from .simple import SimpleRNNCell

__all__ = ["ACTIVATIONS", "GRUCell", "LSTMCell", "LSTMState", "RecurrentCell", "SimpleRNNCell"]
