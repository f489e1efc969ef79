"""Bad input raises ValueError naming the argument, the shape received and the one expected."""
import pytest
import torch

import rnnkit


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"x: expected a 3-d tensor .*\(B, T, F\).*F=3.*got shape \(5, 3\)"):
        lstm(torch.randn(5, 3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"x: expected feature size F=3 .*got shape \(2, 5, 7\)"):
        lstm(torch.randn(2, 5, 7))


def test_not_a_tensor(lstm):
    with pytest.raises(ValueError, match="x: expected a torch.Tensor"):
        lstm([[1.0, 2.0, 3.0]])


def test_empty_time_axis(lstm):
    with pytest.raises(ValueError, match=r"x: expected a non-empty .*got shape \(2, 0, 3\)"):
        lstm(torch.randn(2, 0, 3))


@pytest.mark.parametrize("lengths,message", [
    ([5, 6], r"lengths: expected every length in \[1, T=5\], got min 5 and max 6"),
    ([0, 2], r"lengths: expected every length in \[1, T=5\], got min 0 and max 2"),
    ([1, 2, 3], r"lengths: expected shape \(2,\) .*got shape \(3,\)"),
    (torch.tensor([1.5, 2.0]), "lengths: expected integers"),
])
def test_bad_lengths(lstm, lengths, message):
    with pytest.raises(ValueError, match=message):
        lstm(torch.randn(2, 5, 3), lengths=lengths)


def test_wrong_state_shape(lstm):
    state = rnnkit.LSTMState(torch.zeros(2, 2, 4), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"state.c: expected shape \(2, 2, 4\), got shape \(1, 2, 4\)"):
        lstm(torch.randn(2, 5, 3), state)


def test_tensor_state_for_lstm(lstm):
    with pytest.raises(ValueError, match=r"state: expected LSTMState\(h \(2, B, 4\), c \(2, B, 4\)\), got Tensor"):
        lstm(torch.randn(2, 5, 3), torch.zeros(2, 2, 4))


def test_wrong_cell_state_shape():
    cell = rnnkit.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"state: expected shape \(2, 4\), got shape \(2, 5\)"):
        cell(torch.randn(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"x_t: expected shape \(B, 3\), got \(2, 4\)"):
        cell(torch.randn(2, 4))


def test_nan_in_input_and_state(lstm):
    x = torch.randn(2, 5, 3)
    x[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x: contains NaN \(shape \(2, 5, 3\)\)"):
        lstm(x)
    state = rnnkit.LSTMState(torch.full((2, 2, 4), float("nan")), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="state.h: contains NaN"):
        lstm(torch.randn(2, 5, 3), state)


@pytest.mark.parametrize("factory,message", [
    (lambda: rnnkit.LSTMCell(3, 4, proj_size=4), r"proj_size: expected an integer in \[0, hidden_size=4\), got 4"),
    (lambda: rnnkit.LSTMCell(3, 4, coupled=True, forget_gate=False), "coupled"),
    (lambda: rnnkit.LSTMCell(3, 4, forget_gate=False, forget_bias=1.0), "forget_bias: must be 0"),
    (lambda: rnnkit.LSTMCell(3, 4, activation="swishy"), "activation: expected one of"),
    (lambda: rnnkit.GRUCell(3, 4, recurrent_activation=3), "recurrent_activation: expected one of"),
    (lambda: rnnkit.SimpleRNNCell(3, 0), "hidden_size: expected a positive integer, got 0"),
    (lambda: rnnkit.GRU(3, 4, num_layers=0), "num_layers: expected a positive integer, got 0"),
    (lambda: rnnkit.GRU(3, 4, dropout=1.5), r"dropout: expected a rate in \[0, 1\), got 1.5"),
    (lambda: rnnkit.LSTM(3, 4, zoneout=-0.1), "zoneout"),
    (lambda: rnnkit.Bidirectional(rnnkit.GRU(3, 4), merge="max"), "merge: expected one of"),
])
def test_bad_options(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
