"""The Keras front's recurrent layers give Keras 3's outputs for Keras' weights (atol 1e-5)."""
import numpy as np
import pytest
import torch

import rnnkit

import rnnkit.keras as rk
from rnnkit.keras import layers

from kerascases import as_list, max_difference, twin

ATOL = 1e-5
KINDS = ["SimpleRNN", "LSTM", "GRU"]


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


def right_padding_mask():
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    mask[1, 2:] = False
    return mask


def holey_mask():
    mask = right_padding_mask()
    mask[2, 1] = False           # a masked step inside the sequence: the step-by-step route
    mask[0, 0] = False
    return mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"activation": "relu", "return_sequences": True},
    {"activation": "softsign", "use_bias": False},
])
def test_layer_matches_keras(keras, x, kind, options):
    expected, got = twin(getattr(keras.layers, kind)(5, **options), getattr(layers, kind)(5, **options), x)
    assert len(as_list(got)) == len(as_list(expected))
    assert max_difference(expected, got) < ATOL


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_activation_matches_keras(keras, x, kind):
    options = {"recurrent_activation": "hard_sigmoid", "activation": "linear", "return_sequences": True}
    expected, got = twin(getattr(keras.layers, kind)(4, **options), getattr(layers, kind)(4, **options), x)
    assert max_difference(expected, got) < ATOL


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reset_after_both_ways(keras, x, reset_after):
    ours = layers.GRU(5, reset_after=reset_after, return_sequences=True)
    expected, got = twin(keras.layers.GRU(5, reset_after=reset_after, return_sequences=True), ours, x)
    assert max_difference(expected, got) < ATOL
    assert ours.cell.rnn_cell.reset_after is reset_after
    assert [w.shape for w in ours.get_weights()][-1] == ((2, 15) if reset_after else (15,))


@pytest.mark.parametrize("mask", [right_padding_mask(), holey_mask()], ids=["right-padding", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_masked_steps_match_keras(keras, x, mask, go_backwards, zero_output_for_mask, kind):
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards,
                   zero_output_for_mask=zero_output_for_mask)
    expected, got = twin(getattr(keras.layers, kind)(5, **options), getattr(layers, kind)(5, **options), x,
                         mask=mask)
    assert max_difference(expected, got) < ATOL


def test_right_padding_runs_whole_sequences_and_holes_step(x, monkeypatch):
    """Right padding goes to the rnnkit layer as lengths; any other mask takes the step-by-step loop."""
    routes = []
    for route in ("_run_layers", "_run_steps"):
        original = getattr(layers.RNN, route)
        monkeypatch.setattr(layers.RNN, route,
                            lambda self, *args, run=original, name=route: routes.append(name) or run(self, *args))
    layer = layers.LSTM(3)
    layer(torch.as_tensor(x), mask=torch.as_tensor(right_padding_mask()))
    layer(torch.as_tensor(x), mask=torch.as_tensor(holey_mask()))
    layer(torch.as_tensor(x))
    assert routes == ["_run_layers", "_run_steps", "_run_layers"]


def test_stacked_cells_match_keras(keras, x):
    def cells(module):
        return [module.SimpleRNNCell(3), module.LSTMCell(4), module.GRUCell(2, reset_after=False)]

    mask = holey_mask()
    for call in ({}, {"mask": right_padding_mask()}, {"mask": mask}):
        expected, got = twin(keras.layers.RNN(cells(keras.layers), return_sequences=True, return_state=True),
                             layers.RNN(cells(layers), return_sequences=True, return_state=True), x, **call)
        flat_expected = [expected[0], *[s for state in expected[1:] for s in as_list(state)]]
        flat_got = [got[0], *[s for state in got[1:] for s in as_list(state)]]
        assert max_difference(flat_expected, flat_got) < ATOL


def test_initial_state_matches_keras(keras, x):
    rng = np.random.default_rng(1)
    h, c = (rng.normal(size=(3, 4)).astype("float32") for _ in range(2))
    keras_layer, ours = keras.layers.LSTM(4, return_sequences=True), layers.LSTM(4, return_sequences=True)
    expected = keras_layer(x, initial_state=[h, c])
    ours(torch.as_tensor(x))
    ours.set_weights(keras_layer.get_weights())
    got = ours(torch.as_tensor(x), initial_state=[torch.as_tensor(h), torch.as_tensor(c)])
    assert max_difference(expected, got) < ATOL


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_runs_over_several_batches(keras, kind):
    chunks = np.random.default_rng(2).normal(size=(3, 2, 5, 4)).astype("float32")   # 3 batches of (2, 5, 4)
    keras_layer = getattr(keras.layers, kind)(3, stateful=True, return_sequences=True)
    ours = getattr(layers, kind)(3, stateful=True, return_sequences=True)
    keras_layer(chunks[0])
    ours(torch.as_tensor(chunks[0]))
    ours.set_weights(keras_layer.get_weights())
    keras_layer.reset_states()
    ours.reset_states()
    for chunk in chunks:
        assert max_difference(keras_layer(chunk), ours(torch.as_tensor(chunk))) < ATOL
    keras_layer.reset_states()
    ours.reset_states()
    assert max_difference(keras_layer(chunks[1]), ours(torch.as_tensor(chunks[1]))) < ATOL
    with pytest.raises(ValueError, match="same batch size"):
        ours(torch.as_tensor(chunks[0][:1]))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_every_merge_mode(keras, x, merge_mode, kind):
    def build(module):
        return module.layers.Bidirectional(getattr(module.layers, kind)(4, return_sequences=True),
                                           merge_mode=merge_mode)
    expected, got = twin(build(keras), build(rk), x)
    assert max_difference(expected, got) < ATOL


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_masked_with_states(keras, x, return_sequences):
    def build(module):
        return module.Bidirectional(module.GRU(4, return_sequences=return_sequences, return_state=True))
    for mask in (right_padding_mask(), holey_mask()):
        expected, got = twin(build(keras.layers), build(layers), x, mask=mask)
        assert len(got) == 3
        assert max_difference(expected, got) < ATOL


def test_bidirectional_equals_rnnkit_padding_aware_bidirectional(x):
    """With right padding the Keras-style Bidirectional equals rnnkit.Bidirectional on lengths."""
    layer = layers.Bidirectional(layers.LSTM(4, return_sequences=True))
    mask = torch.as_tensor(right_padding_mask())
    ours = layer(torch.as_tensor(x), mask=mask)
    core = rnnkit.Bidirectional(layer.forward_layer.cell.core, layer.backward_layer.cell.core)
    reference, _ = core(torch.as_tensor(x), lengths=mask.sum(1))
    assert torch.allclose(ours, reference, atol=1e-6)


def test_masking_and_embedding_mask_reach_the_recurrent_layer(keras):
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2], [5, 0, 0, 0, 0]])

    def model(module):
        return module.Sequential([module.layers.Embedding(10, 4, mask_zero=True),
                                  module.layers.LSTM(3, return_sequences=True), module.layers.GRU(2)])
    keras_model, ours = model(keras), model(rk)
    expected = keras_model(tokens)
    ours(torch.as_tensor(tokens))
    ours.set_weights(keras_model.get_weights())
    assert max_difference(expected, ours(torch.as_tensor(tokens))) < ATOL
    sequence = torch.as_tensor(np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32"))
    sequence[0, 2:] = 0.0
    masked = [module.Sequential([module.layers.Masking(0.0), module.layers.SimpleRNN(3, return_sequences=True)])
              for module in (keras, rk)]
    expected = masked[0](sequence.numpy())
    masked[1](sequence)
    masked[1].set_weights(masked[0].get_weights())
    assert max_difference(expected, masked[1](sequence)) < ATOL


def test_recurrent_dropout_is_inactive_at_inference(keras, x):
    expected, got = twin(keras.layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5),
                         layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5), x)
    assert max_difference(expected, got) < ATOL
