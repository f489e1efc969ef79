"""``fast_path``: which path a layer runs and why; the choice follows the configuration and the mode."""
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit import kernels


@pytest.mark.parametrize("layer,expected", [
    (rnnkit.LSTM(3, 4), "fused (torch.lstm)"),
    (rnnkit.LSTM(3, 4, proj_size=2, num_layers=2, bidirectional=True, dropout=0.5), "fused (torch.lstm)"),
    (rnnkit.LSTM(3, 4, forget_bias=1.0, bias=False), "fused (torch.lstm)"),
    (rnnkit.GRU(3, 4, bias=False), "fused (torch.gru)"),
    (rnnkit.SimpleRNN(3, 4), "fused (torch.rnn_tanh)"),
    (rnnkit.SimpleRNN(3, 4, nonlinearity="relu"), "fused (torch.rnn_relu)"),
    (rnnkit.SimpleRNN(3, 4, nonlinearity=torch.tanh), "fused (torch.rnn_tanh)"),
    (rnnkit.LSTM(3, 4, peephole=True), "bptt kernel (peephole)"),
    (rnnkit.LSTM(3, 4, layer_norm=True, coupled=True), "bptt kernel (coupled, layer_norm)"),
    (rnnkit.LSTM(3, 4, forget_gate=False), "bptt kernel (forget_gate=False)"),
    (rnnkit.LSTM(3, 4, recurrent_activation="hard_sigmoid"), "bptt kernel (recurrent_activation='hard_sigmoid')"),
    (rnnkit.GRU(3, 4, reset_after=False), "bptt kernel (reset_after=False)"),
    (rnnkit.GRU(3, 4, layer_norm=True, zoneout=0.1), "bptt kernel (layer_norm, zoneout)"),
    (rnnkit.SimpleRNN(3, 4, nonlinearity="softsign"), "bptt kernel (nonlinearity='softsign')"),
    (rnnkit.LSTM(3, 4, activation=torch.sin), "autograd loop (user activation callable)"),
    (rnnkit.SimpleRNN(3, 4, nonlinearity=lambda z: z * 2), "autograd loop (user nonlinearity callable)"),
], ids=lambda v: v if isinstance(v, str) else repr(v))
def test_fast_path_names_the_path_and_the_reason(layer, expected):
    assert layer.fast_path == expected


def test_recurrent_dropout_leaves_the_fused_kernel_only_in_training():
    layer = rnnkit.LSTM(3, 4, recurrent_dropout=0.25)
    assert layer.fast_path == "bptt kernel (recurrent_dropout)"
    layer.eval()
    assert layer.fast_path == "fused (torch.lstm)"                   # no mask in evaluation: standard LSTM


def test_cell_subclasses_and_user_cells_run_in_the_loop():
    class Tweaked(rnnkit.GRUCell):
        def step(self, x_proj, h_prev, recurrent_mask=None):
            h, _ = super().step(x_proj, h_prev, recurrent_mask)
            return 2 * h, 2 * h

    class Accumulate(nn.Module):
        input_size = 2

        def forward(self, x_t, state):
            return state + x_t, state + x_t

    assert rnnkit.RNN(Tweaked(3, 4)).fast_path == "autograd loop (cell subclass Tweaked)"
    assert rnnkit.RNN(Accumulate()).fast_path == "autograd loop (user cell Accumulate)"
    cell = Tweaked(3, 4)
    x = torch.randn(2, 3, 3)
    y, _ = rnnkit.RNN(cell)(x)                                         # the override is honoured
    h = torch.zeros(2, 4)
    for t in range(3):
        h = 2 * rnnkit.GRUCell.step(cell, cell.project_input(x[:, t]), h)[0]
    torch.testing.assert_close(y[:, -1], h)


def test_rnn_of_a_builtin_cell_uses_the_kernels():
    assert rnnkit.RNN(rnnkit.LSTMCell(3, 4)).fast_path == "fused (torch.lstm)"
    assert rnnkit.RNN(rnnkit.LSTMCell(3, 4, peephole=True), zoneout=0.1).fast_path == "bptt kernel (peephole, zoneout)"


def test_force_loop_switches_every_layer_to_the_loop():
    layer = rnnkit.LSTM(3, 4)
    with kernels.force_loop():
        assert layer.fast_path == "autograd loop (kernels disabled by force_loop())"
    assert layer.fast_path == "fused (torch.lstm)"
