"""Invariants of the time loop (Flax's tests, for rnnkit): loop == stepping by hand,
padded == unpadded per row, reversal keeps padding at the end, bidirectional == two layers."""
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.cells.base import state_leaves
from rnnkit.recurrent.loop import run_sequence

CELLS = {
    "srn": lambda: rnnkit.SimpleRNNCell(3, 5),
    "lstm": lambda: rnnkit.LSTMCell(3, 5, peephole=True, proj_size=2),
    "gru": lambda: rnnkit.GRUCell(3, 5, reset_after=False, layer_norm=True),
}


def assert_same(a, b, atol=1e-6):
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_loop_equals_stepping_by_hand(kind):
    cell = CELLS[kind]()
    x = torch.randn(4, 6, 3)
    y, final = rnnkit.RNN(cell)(x)
    state = cell.init_state(4)
    for t in range(6):
        y_t, state = cell(x[:, t], state)
        assert_same(y[:, t], y_t)
    for a, b in zip(state_leaves(final), state_leaves(state)):
        assert_same(a, b)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_padded_batch_equals_each_row_alone(kind):
    rnn = rnnkit.RNN(CELLS[kind]())
    x = torch.randn(3, 7, 3)
    lengths = torch.tensor([7, 2, 5])
    y, final = rnn(x, lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        y_row, final_row = rnn(x[b:b + 1, :length])
        assert_same(y[b:b + 1, :length], y_row)
        assert torch.all(y[b, length:] == 0)
        for a, c in zip(state_leaves(final), state_leaves(final_row)):
            assert_same(a[b:b + 1], c)


def test_stacked_bidirectional_layer_padded_equals_rows_alone():
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([4, 6, 1])
    y, (h, c) = layer(x, lengths=lengths)
    assert y.shape == (3, 6, 4) and h.shape == (4, 3, 2) and c.shape == (4, 3, 4)
    for b, length in enumerate(lengths.tolist()):
        y_row, (h_row, c_row) = layer(x[b:b + 1, :length])
        assert_same(y[b:b + 1, :length], y_row)
        assert torch.all(y[b, length:] == 0)
        assert_same(h[:, b:b + 1], h_row)
        assert_same(c[:, b:b + 1], c_row)


def test_reverse_padded_keeps_padding_at_the_end():
    x = torch.arange(1, 13, dtype=torch.float32).view(3, 4, 1)
    lengths = torch.tensor([4, 2, 3])
    out = rnnkit.reverse_padded(x, lengths)[..., 0]
    assert out.tolist() == [[4, 3, 2, 1], [6, 5, 7, 8], [11, 10, 9, 12]]
    assert torch.equal(rnnkit.reverse_padded(rnnkit.reverse_padded(x, lengths), lengths), x)
    assert torch.equal(rnnkit.reverse_padded(x, None), x.flip(1))


def test_reverse_rnn_reads_the_valid_part_backwards():
    cell = rnnkit.GRUCell(3, 4)
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 3])
    y, final = rnnkit.RNN(cell, reverse=True)(x, lengths=lengths)
    y_row, final_row = rnnkit.RNN(cell)(x[1:, :3].flip(1))
    assert_same(y[1:, :3], y_row.flip(1))
    assert_same(final[1:], final_row)
    assert torch.all(y[1, 3:] == 0)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_equals_two_layers_with_reversed_valid_input(merge):
    fwd, bwd = rnnkit.RNN(rnnkit.LSTMCell(3, 4)), rnnkit.RNN(rnnkit.LSTMCell(3, 4))
    bi = rnnkit.Bidirectional(fwd, bwd, merge=merge)
    x = torch.randn(3, 5, 3)
    lengths = torch.tensor([5, 1, 3])
    y, (final_f, final_b) = bi(x, lengths=lengths)
    y_f, ff = fwd(x, lengths=lengths)
    y_r, fb = bwd(rnnkit.reverse_padded(x, lengths), lengths=lengths)
    y_b = rnnkit.reverse_padded(y_r, lengths)
    expected = {"concat": torch.cat([y_f, y_b], -1), "sum": y_f + y_b, "mul": y_f * y_b,
                "ave": (y_f + y_b) / 2, None: (y_f, y_b)}[merge]
    for got, want in zip(y if merge is None else [y], expected if merge is None else [expected]):
        assert_same(got, want)
    assert_same(final_f.h, ff.h) and assert_same(final_b.c, fb.c)


def test_bidirectional_layer_equals_composition_of_directions():
    layer = rnnkit.GRU(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 3])
    y, h = layer(x, lengths=lengths)
    inp = x
    for k in range(2):
        bi = rnnkit.Bidirectional(rnnkit.RNN(layer.cell(k, 0)), rnnkit.RNN(layer.cell(k, 1)))
        inp, (h_f, h_b) = bi(inp, lengths=lengths)
        assert_same(h[2 * k], h_f) and assert_same(h[2 * k + 1], h_b)
    assert_same(y, inp)


def test_bidirectional_default_backward_layer_is_a_fresh_copy():
    fwd = rnnkit.RNN(rnnkit.SimpleRNNCell(3, 4))
    bi = rnnkit.Bidirectional(fwd)
    assert bi.backward_layer.cell is not fwd.cell
    assert not torch.equal(bi.backward_layer.cell.weight_hh, fwd.cell.weight_hh)


def test_stateful_chunks_equal_one_pass():
    layer = rnnkit.LSTM(3, 4, num_layers=2)
    x = torch.randn(2, 9, 3)
    y, final = layer(x)
    state, chunks = None, []
    for chunk in x.split(4, dim=1):
        y_chunk, state = layer(chunk, state)
        chunks.append(y_chunk)
    assert_same(torch.cat(chunks, 1), y)
    assert_same(state.h, final.h) and assert_same(state.c, final.c)


def test_stacked_layers_equal_chained_single_layers():
    stacked = rnnkit.SimpleRNN(3, 4, num_layers=3, nonlinearity="relu")
    x = torch.randn(2, 5, 3)
    y, h = stacked(x)
    inp = x
    for k in range(3):
        inp, h_k = rnnkit.RNN(stacked.cell(k))(inp)
        assert_same(h[k], h_k)
    assert_same(y, inp)


def test_inter_layer_dropout_only_in_training():
    layer = rnnkit.GRU(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(4, 6, 3)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


class RecordingCell(nn.Module):
    """A user cell (no project_input) that records the recurrent masks it receives."""

    def __init__(self):
        super().__init__()
        self.input_size, self.inner = 3, rnnkit.SimpleRNNCell(3, 4)
        self.masks = []

    def init_state(self, batch_size, device=None, dtype=None):
        return self.inner.init_state(batch_size, device=device, dtype=dtype)

    def forward(self, x_t, state, recurrent_mask=None):
        self.masks.append(recurrent_mask)
        return self.inner(x_t, state, recurrent_mask=recurrent_mask)


def test_recurrent_dropout_draws_one_mask_per_sequence():
    cell = RecordingCell()
    rnn = rnnkit.RNN(cell, recurrent_dropout=0.5)
    x = torch.randn(64, 4, 3)
    rnn(x)
    first = cell.masks[:4]
    assert all(m is first[0] for m in first)
    assert set(first[0].unique().tolist()) <= {0.0, 2.0}             # Bernoulli(0.5) / 0.5
    rnn(x)
    assert not torch.equal(cell.masks[4], first[0])                  # a new mask per call
    rnn.eval()
    rnn(x)
    assert cell.masks[-1] is None


def test_recurrent_dropout_needs_a_cell_that_takes_the_mask():
    class Plain(nn.Module):
        def forward(self, x_t, state):
            return x_t, state
    with pytest.raises(ValueError, match="recurrent_mask"):
        rnnkit.RNN(Plain(), recurrent_dropout=0.1)


def test_zoneout_evaluation_is_the_expectation_and_training_keeps_units():
    cell = rnnkit.LSTMCell(3, 4)
    x = torch.randn(2, 5, 3)
    p = 0.25
    rnn = rnnkit.RNN(cell, zoneout=p).eval()
    y, final = rnn(x)
    state = cell.init_state(2)
    for t in range(5):
        _, new = cell(x[:, t], state)
        state = rnnkit.LSTMState(*(p * old + (1 - p) * n for old, n in zip(state, new)))
        assert_same(y[:, t], state.h)
    assert_same(final.c, state.c)
    rnn.train()
    y_train, _ = rnnkit.RNN(cell, zoneout=0.999999)(x)
    assert torch.all(y_train == 0)                                   # every unit keeps h0 = 0


def test_user_cell_with_callable_nonlinearity_runs_in_the_loop():
    cell = rnnkit.SimpleRNNCell(3, 4, nonlinearity=torch.sin)
    x = torch.randn(2, 3, 3)
    y, h = rnnkit.RNN(cell)(x)
    manual = torch.zeros(2, 4)
    for t in range(3):
        manual = torch.sin(x[:, t] @ cell.weight_ih.T + cell.bias_ih + manual @ cell.weight_hh.T + cell.bias_hh)
    assert_same(h, manual)


def test_run_sequence_with_user_cell_and_lengths():
    class Accumulate(nn.Module):
        def forward(self, x_t, state):
            new = state + x_t
            return new, new
    x = torch.ones(2, 4, 1)
    y, final = run_sequence(Accumulate(), x, torch.zeros(2, 1), torch.tensor([4, 2]))
    assert final.flatten().tolist() == [4.0, 2.0]
    assert y[1, :, 0].tolist() == [1.0, 2.0, 0.0, 0.0]
