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
    with pytest.raises(ValueError, match=r"state: expected LSTMState\(h \(2, B, 4\), c \(2, B, 4\)\), "
                                         r"got a tensor of shape \(2, 2, 4\)"):
        lstm(torch.randn(2, 5, 3), torch.zeros(2, 2, 4))


def test_wrong_cell_state_shape():
    cell = rnnkit.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"state: expected shape \(2, 4\), got shape \(2, 5\)"):
        cell(torch.randn(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"x_t: expected shape \(B, 3\), got \(2, 4\)"):
        cell(torch.randn(2, 4))


def test_nan_in_input_and_state_with_the_value_checks_on(lstm):
    x = torch.randn(2, 5, 3)
    x[1, 2, 0] = float("nan")
    state = rnnkit.LSTMState(torch.full((2, 2, 4), float("nan")), torch.zeros(2, 2, 4))
    assert torch.isnan(lstm(x)[0]).any()                                # off by default: no scan, no sync
    with rnnkit.set_checks(True):
        with pytest.raises(ValueError, match=r"x: contains NaN \(shape \(2, 5, 3\)\)"):
            lstm(x)
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
    (lambda: rnnkit.LSTM(8, 0), "hidden_size: expected a positive integer, got 0"),
    (lambda: rnnkit.LSTM(8, "16"), "hidden_size: expected a positive integer, got '16'"),
    (lambda: rnnkit.LSTMCell(8.0, 16), "input_size: expected a positive integer, got 8.0"),
    (lambda: rnnkit.LSTM(8, 16, proj_size=True), "proj_size: expected an integer >= 0, got True"),
    (lambda: rnnkit.GRU(8, 4, reset_after="no"), "reset_after: expected True or False, got 'no'"),
    (lambda: rnnkit.LSTM(8, 4, bidirectional="no"), "bidirectional: expected True or False, got 'no'"),
    (lambda: rnnkit.LSTM(8, 4, peephole="no"), "peephole: expected True or False, got 'no'"),
    (lambda: rnnkit.LSTMCell(8, 4, coupled="yes", forget_gate=False), "coupled: expected True or False"),
    (lambda: rnnkit.SimpleRNN(8, 4, batch_first=None), "batch_first: expected True or False, got None"),
    (lambda: rnnkit.RNN(rnnkit.GRUCell(8, 4), reverse="yes"), "reverse: expected True or False"),
    (lambda: rnnkit.LSTMCell(8, 4, forget_bias="1"), "forget_bias: expected a finite real number"),
    (lambda: rnnkit.GRU(8, 4, dropout="0.1"), r"dropout: expected a rate in \[0, 1\), got '0.1'"),
    (lambda: rnnkit.LSTM(8, 4, dtype=torch.int64), "dtype: expected None or a floating-point torch.dtype"),
    (lambda: rnnkit.GRUCell(8, 4, device="gpu0"), "device: expected None, a torch.device or its name"),
])
def test_bad_options(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


LAYERS_AND_CELLS = [
    (lambda: rnnkit.LSTM(3, 4), (2, 5, 3), "x"), (lambda: rnnkit.GRU(3, 4, layer_norm=True), (2, 5, 3), "x"),
    (lambda: rnnkit.RNN(rnnkit.SimpleRNNCell(3, 4)), (2, 5, 3), "x"),
    (lambda: rnnkit.LSTMCell(3, 4, peephole=True), (2, 3), "x_t"), (lambda: rnnkit.GRUCell(3, 4), (2, 3), "x_t"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64, torch.bool])
@pytest.mark.parametrize("factory,shape,name", LAYERS_AND_CELLS)
def test_input_of_another_dtype_names_both_dtypes(factory, shape, name, dtype):
    x = torch.zeros(shape).to(dtype)
    with pytest.raises(ValueError, match=fr"{name}: expected dtype torch.float32 \(the parameters'\), got {dtype}"):
        factory()(x)


@pytest.mark.parametrize("factory,shape,name", LAYERS_AND_CELLS)
def test_input_on_another_device_names_both_devices(factory, shape, name):
    with pytest.raises(ValueError, match=fr"{name}: expected a tensor on cpu \(the parameters' device\), got meta"):
        factory()(torch.zeros(shape, device="meta"))


def test_state_of_another_dtype_or_device():
    layer, cell = rnnkit.LSTM(3, 4, num_layers=2), rnnkit.GRUCell(3, 4)
    state = rnnkit.LSTMState(torch.zeros(2, 2, 4), torch.zeros(2, 2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"state.c: expected dtype torch.float32 \(the parameters'\), "
                                         r"got torch.float64"):
        layer(torch.randn(2, 5, 3), state)
    with pytest.raises(ValueError, match="state: expected a tensor on cpu"):
        cell(torch.randn(2, 3), torch.zeros(2, 4, device="meta"))


def test_autocast_accepts_its_lower_precision_and_names_it_otherwise():
    layer = rnnkit.LSTM(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(2, 5, 3).bfloat16(), rnnkit.LSTMState(*torch.zeros(2, 1, 2, 4).bfloat16()))
        with pytest.raises(ValueError, match=r"x: expected dtype torch.float32 \(the parameters'\) or "
                                             r"torch.bfloat16 \(autocast's\), got torch.float16"):
            layer(torch.randn(2, 5, 3).half())


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"layer_norm": True}, {"zoneout": 0.3},
                                     {"proj_size": 2, "num_layers": 2, "bidirectional": True}])
@pytest.mark.parametrize("kind", [tuple, list])
def test_a_plain_pair_is_an_lstm_state_on_every_path(options, kind):
    layer = rnnkit.LSTM(3, 4, **options).eval()
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    state = layer.cells[0].init_state(2)
    state = rnnkit.LSTMState(*(torch.randn(len(layer.cells), *leaf.shape) for leaf in state))
    y_want, final_want = layer(x, state, lengths)
    y, final = layer(x, kind(state), lengths)
    assert isinstance(final, rnnkit.LSTMState)
    torch.testing.assert_close(y, y_want)
    torch.testing.assert_close(tuple(final), tuple(final_want))
    cell = layer.cells[0]
    step_state = rnnkit.LSTMState(state.h[0], state.c[0])
    h, new_state = cell(x[:, 0], kind(step_state))
    torch.testing.assert_close(h, cell(x[:, 0], step_state)[0])
    assert isinstance(new_state, rnnkit.LSTMState)


@pytest.mark.parametrize("lengths", [[10, None, 3, 1], ["a", 2, 3, 4], [[1], [2], [3], [4]]])
def test_lengths_that_are_not_integers(lengths):
    with pytest.raises(ValueError, match="lengths: expected "):
        rnnkit.GRU(3, 4)(torch.randn(4, 10, 3), lengths=lengths)


def test_meta_tensors_run_on_a_meta_layer_and_give_shapes():
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, peephole=True, device="meta")
    y, final = layer(torch.empty(2, 5, 3, device="meta"), lengths=torch.tensor([5, 3]))
    assert y.device.type == "meta" and y.shape == (2, 5, 8) and final.c.shape == (4, 2, 4)


@pytest.mark.parametrize("value,what", [(float("nan"), "NaN"), (float("inf"), "Inf"), (-float("inf"), "Inf")])
def test_cells_and_layers_check_values_alike_when_switched_on(value, what):
    layer, cell = rnnkit.GRU(3, 4), rnnkit.LSTMCell(3, 4)
    x = torch.randn(2, 5, 3)
    x[0, 1, 2] = value
    state = rnnkit.LSTMState(torch.zeros(2, 4), torch.full((2, 4), value))
    layer(x), cell(x[:, 1]), cell(torch.randn(2, 3), state)                 # off by default: no scan
    with rnnkit.set_checks(True):
        with pytest.raises(ValueError, match=f"x: contains {what}"):
            layer(x)
        with pytest.raises(ValueError, match=f"x_t: contains {what}"):
            cell(x[:, 1])
        with pytest.raises(ValueError, match=f"state.c: contains {what}"):
            cell(torch.randn(2, 3), state)
