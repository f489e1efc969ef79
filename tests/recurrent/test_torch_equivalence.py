"""rnnkit layers load torch.nn state dicts (strict) and compute the same thing (float32, atol 1e-5)."""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

ATOL = 1e-5
CASES = [
    ("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {"proj_size": 5}), ("LSTM", {"bias": False}), ("GRU", {"bias": False}),
]


def pair(name, num_layers, bidirectional, **options):
    theirs = getattr(torch.nn, name)(8, 16, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=True, **options)
    ours_class = rnnkit.SimpleRNN if name == "RNN" else getattr(rnnkit, name)
    ours = ours_class(8, 16, num_layers=num_layers, bidirectional=bidirectional, **options)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs, ours


def leaves(state):
    return list(state) if isinstance(state, tuple) else [state]


def assert_same(a, b):
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_outputs_states_and_gradients_match_torch(name, options, num_layers, bidirectional):
    theirs, ours = pair(name, num_layers, bidirectional, **options)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    x = torch.randn(3, 7, 8)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, s1 = theirs(x1)
    y2, s2 = ours(x2)
    assert_same(y2, y1)
    for a, b in zip(leaves(s2), leaves(s1)):
        assert_same(a, b)
    g = torch.randn_like(y1)
    (y1 * g).sum().backward()
    (y2 * g).sum().backward()
    assert_same(x2.grad, x1.grad)
    grads = dict(theirs.named_parameters())
    for key, param in ours.state_dict(keep_vars=True).items():
        assert_same(param.grad, grads[key].grad)


@pytest.mark.parametrize("name,options", CASES[:5], ids=[f"{n}-{o}" for n, o in CASES[:5]])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_lengths_match_packed_sequences(name, options, bidirectional):
    theirs, ours = pair(name, 2, bidirectional, **options)
    x = torch.randn(4, 6, 8)
    lengths = torch.tensor([6, 2, 4, 1])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    y_packed, s1 = theirs(packed)
    y1, _ = pad_packed_sequence(y_packed, batch_first=True, total_length=6)
    y2, s2 = ours(x, lengths=lengths)
    assert_same(y2, y1)
    for a, b in zip(leaves(s2), leaves(s1)):
        assert_same(a, b)


def test_initial_state_and_time_major_layout_match_torch():
    theirs = torch.nn.LSTM(8, 16, num_layers=2, proj_size=4)            # batch_first=False
    ours = rnnkit.LSTM(8, 16, num_layers=2, proj_size=4, batch_first=False)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 3, 8)                                            # (T, B, I)
    h0, c0 = torch.randn(2, 3, 4), torch.randn(2, 3, 16)
    y1, (h1, c1) = theirs(x, (h0, c0))
    y2, (h2, c2) = ours(x, rnnkit.LSTMState(h0, c0))
    assert_same(y2, y1)
    assert_same(h2, h1)
    assert_same(c2, c1)


def test_state_dict_exports_to_torch():
    ours = rnnkit.GRU(8, 16, num_layers=2, bidirectional=True)
    theirs = torch.nn.GRU(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 5, 8)
    assert_same(ours(x)[0], theirs(x)[0])


def test_torch_style_parameter_attributes():
    ours = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4)
    assert ours.weight_hr_l1_reverse is ours.cell(1, 1).weight_hr
    assert ours.weight_ih_l1.shape == (64, 8)                           # reads [fwd; bwd] of layer 0
    with pytest.raises(AttributeError):
        ours.weight_ih_l2
    with pytest.raises(AttributeError):
        rnnkit.LSTM(8, 16).weight_ih_l0_reverse


def test_strict_load_rejects_a_variant_layout():
    theirs = torch.nn.LSTM(8, 16, batch_first=True)
    with pytest.raises(RuntimeError, match="weight_ci"):
        rnnkit.LSTM(8, 16, peephole=True).load_state_dict(theirs.state_dict(), strict=True)
