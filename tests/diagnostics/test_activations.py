"""Gate traces equal the gates recomputed from the parameters and the layer's own (fast-path) forward pass."""
import pytest
import torch

import rnnkit
from rnnkit.cells import LSTMCell
from rnnkit.diagnostics.activations import gate_names, gate_range, trace_gates


def lstm_gates_by_hand(cell, x, h, c):
    """i, f, g, o at every step from the parameters, given the previous states (B, T, .) shifted by one."""
    a = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh           # (B, T, 4H)
    i, f, g, o = a.chunk(4, dim=-1)
    return {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}


def shifted(states):
    """``s_{t-1}`` for every t (zeros at t = 0): ``(B, T, H) -> (B, T, H)``."""
    return torch.cat([torch.zeros_like(states[:, :1]), states[:, :-1]], dim=1)


def test_lstm_gates_equal_the_equations_and_the_fused_forward_pass():
    layer = rnnkit.LSTM(5, 7, num_layers=2).eval()
    x = torch.randn(3, 11, 5)
    trace = trace_gates(layer, x)
    outputs, (h_n, c_n) = layer(x)                                     # the fused path, untouched
    assert layer.fast_path.startswith("fused")
    layer_input = x
    for k, gates in enumerate(trace.gates):
        assert list(gates) == ["i", "f", "g", "o", "c", "h"]
        expected = lstm_gates_by_hand(layer.cell(k), layer_input, shifted(gates["h"]), shifted(gates["c"]))
        for name in "ifgo":
            torch.testing.assert_close(gates[name], expected[name])
        torch.testing.assert_close(gates["c"], expected["f"] * shifted(gates["c"]) + expected["i"] * expected["g"])
        torch.testing.assert_close(gates["c"][:, -1], c_n[k])
        torch.testing.assert_close(gates["h"][:, -1], h_n[k])
        layer_input = gates["h"]
    torch.testing.assert_close(trace.outputs, outputs)
    torch.testing.assert_close(trace.gates[1]["h"], outputs)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_equal_the_equations(reset_after):
    layer = rnnkit.GRU(4, 6, reset_after=reset_after).eval()
    cell = layer.cell(0)
    x = torch.randn(2, 9, 4)
    gates = trace_gates(layer, x).gates[0]
    assert list(gates) == ["r", "z", "n", "h"]
    h_prev = shifted(gates["h"])
    gi = x @ cell.weight_ih.T + cell.bias_ih                                                 # (B, T, 3H)
    gh = h_prev @ cell.weight_hh.T + cell.bias_hh
    H = 6
    r = (gi[..., :H] + gh[..., :H]).sigmoid()
    z = (gi[..., H:2 * H] + gh[..., H:2 * H]).sigmoid()
    reset = r * gh[..., 2 * H:] if reset_after else \
        (r * h_prev) @ cell.weight_hh[2 * H:].T + cell.bias_hh[2 * H:]
    n = (gi[..., 2 * H:] + reset).tanh()
    for name, value in {"r": r, "z": z, "n": n}.items():
        torch.testing.assert_close(gates[name], value)
    torch.testing.assert_close(gates["h"], (1 - z) * n + z * h_prev)
    torch.testing.assert_close(gates["h"], layer(x)[0])


def test_simple_rnn_traces_its_output():
    layer = rnnkit.SimpleRNN(3, 5, num_layers=2).eval()
    x = torch.randn(2, 6, 3)
    trace = trace_gates(layer, x)
    assert [list(g) for g in trace.gates] == [["h"], ["h"]]
    torch.testing.assert_close(trace.gates[1]["h"], layer(x)[0])


@pytest.mark.parametrize("options, names", [
    ({"peephole": True}, "ifgoch"), ({"layer_norm": True}, "ifgoch"), ({"proj_size": 3}, "ifgoch"),
    ({"forget_gate": False}, "igoch"), ({"coupled": True}, "igoch"), ({"forget_bias": 1.0}, "ifgoch")])
def test_lstm_variants_trace_the_cells_own_step(options, names):
    layer = rnnkit.LSTM(4, 5, zoneout=0.0, **options).eval()
    x = torch.randn(2, 8, 4)
    gates = trace_gates(layer, x).gates[0]
    assert "".join(gates) == names
    outputs, (_, c_n) = layer(x)
    torch.testing.assert_close(gates["h"], outputs)
    torch.testing.assert_close(gates["c"][:, -1], c_n[0])
    c_prev = shifted(gates["c"])
    if options.get("coupled"):                                     # the labels are right: c = (1 - i) c' + i g
        torch.testing.assert_close(gates["c"], (1 - gates["i"]) * c_prev + gates["i"] * gates["g"])
    elif not options.get("forget_gate", True):                     # c = c' + i g
        torch.testing.assert_close(gates["c"], c_prev + gates["i"] * gates["g"])
    for name in set(names) & set("ifo"):
        assert 0.0 <= float(gates[name].min()) and float(gates[name].max()) <= 1.0


def test_a_trace_continues_from_its_final_states():
    layer = rnnkit.LSTM(3, 4, num_layers=2).eval()
    x = torch.randn(2, 10, 3)
    whole = trace_gates(layer, x)
    head = trace_gates(layer, x[:, :6])
    tail = trace_gates(layer, x[:, 6:], head.final)
    for k in range(2):
        for name in whole.gates[k]:
            torch.testing.assert_close(torch.cat([head.gates[k][name], tail.gates[k][name]], 1), whole.gates[k][name])


def test_tracing_leaves_the_layer_as_it_was():
    layer = rnnkit.LSTM(3, 4).train()
    sigma = layer.cell(0)._sigma
    trace_gates(layer, torch.randn(1, 4, 3))
    assert layer.training and layer.cell(0)._sigma is sigma and layer.fast_path.startswith("fused")


def test_a_cell_whose_step_calls_its_gates_otherwise_is_refused():
    class Twice(LSTMCell):
        def step(self, x_proj, state, recurrent_mask=None):
            self._sigma(x_proj)                                    # one σ call the order does not know
            return super().step(x_proj, state, recurrent_mask)

    layer = rnnkit.RNN(Twice(3, 4))
    with pytest.raises(RuntimeError, match="applied σ 8 times in 2 steps, expected 3 per step"):
        trace_gates(layer, torch.randn(1, 2, 3))


def test_names_and_ranges():
    assert gate_names(rnnkit.GRUCell(2, 3)) == ("r", "z", "n", "h")
    lstm = LSTMCell(2, 3)
    assert gate_range(lstm, "f") == (0.0, 1.0) and gate_range(lstm, "g") == (-1.0, 1.0)
    assert gate_range(lstm, "c") is None and gate_range(LSTMCell(2, 3, proj_size=2), "h") is None
    assert gate_range(rnnkit.SimpleRNNCell(2, 3, nonlinearity="relu"), "h") is None
