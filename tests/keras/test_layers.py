"""Layer-level behaviour: Keras layouts and gate orders, initializers, penalties, constraints, core layers."""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.keras import constraints, initializers, layers, regularizers

from kerascases import max_difference, twin

ATOL = 1e-5


def test_gru_weights_use_keras_gate_order_over_rnnkit_cells():
    """Keras z, r, h blocks are rnnkit's r, z, n rows swapped; kernels are transposed."""
    layer = layers.GRU(3)
    layer(torch.zeros(1, 2, 4))
    kernel, recurrent, bias = layer.get_weights()
    cell = layer.cell.rnn_cell
    assert isinstance(cell, rnnkit.GRUCell)
    weight_ih = cell.weight_ih.detach().numpy()
    np.testing.assert_array_equal(kernel[:, 0:3], weight_ih[3:6].T)        # z
    np.testing.assert_array_equal(kernel[:, 3:6], weight_ih[0:3].T)        # r
    np.testing.assert_array_equal(kernel[:, 6:9], weight_ih[6:9].T)        # h / n
    np.testing.assert_array_equal(bias[1, 0:3], cell.bias_hh.detach().numpy()[3:6])
    new = [np.arange(w.size, dtype="float32").reshape(w.shape) for w in (kernel, recurrent, bias)]
    layer.set_weights(new)
    assert max_difference(new, layer.get_weights()) == 0.0


def test_lstm_single_bias_leaves_no_recurrent_bias_parameter():
    layer = layers.LSTM(5)
    layer(torch.zeros(2, 3, 4))
    cell = layer.cell.rnn_cell
    assert "bias_hh" not in dict(cell.named_parameters()) and not cell.bias_hh.any()
    assert sum(p.numel() for p in layer.parameters()) == layer.count_params() == 4 * (5 * (4 + 5) + 5)
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])   # unit_forget_bias


def test_lstm_equals_rnnkit_lstm_with_the_same_parameters():
    """The front maps onto rnnkit.LSTM: same parameters in, same outputs out (no math of its own)."""
    layer = layers.LSTM(4, return_sequences=True)
    x = torch.randn(2, 5, 3)
    ours = layer(x)
    core = rnnkit.LSTM(3, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih"):
            getattr(core.cells[0], name).copy_(getattr(layer.cell.rnn_cell, name))
        core.cells[0].bias_hh.zero_()
    assert torch.allclose(ours, core(x)[0], atol=1e-6)


def test_initializers_follow_keras_definitions(keras):
    shape = (200, 300)
    limit = np.sqrt(6.0 / (200 + 300))
    glorot = initializers.get("glorot_uniform")(shape)
    assert float(glorot.abs().max()) <= limit and float(glorot.abs().max()) > 0.95 * limit
    orthogonal = initializers.get("orthogonal")((50, 200))
    assert torch.allclose(orthogonal @ orthogonal.T, torch.eye(50), atol=1e-5)
    he = initializers.HeNormal(seed=1)(shape)
    assert float(he.std()) == pytest.approx(np.sqrt(2.0 / 200), rel=0.05)
    assert float(he.abs().max()) <= 2 * np.sqrt(2.0 / 200) / 0.87962566103423978 + 1e-6
    assert torch.equal(initializers.get({"class_name": "RandomUniform", "config": {"seed": 3}})((4,)),
                       initializers.RandomUniform(seed=3)((4,)))
    keras_draw = keras.initializers.GlorotNormal(seed=0)((300, 300))
    ours = initializers.GlorotNormal(seed=0)((300, 300))
    assert float(ours.std()) == pytest.approx(float(keras_draw.detach().std()), rel=0.05)
    with pytest.raises(ValueError, match="kernel_initializer"):
        layers.LSTM(3, kernel_initializer="glorot_gaussian")


@pytest.mark.parametrize("name", ["max_norm", "non_neg", "unit_norm", "min_max_norm"])
def test_constraints_match_keras(keras, name):
    w = np.random.default_rng(0).normal(size=(6, 4)).astype("float32") * 3
    expected = keras.constraints.get(name)(w)
    assert max_difference(expected, constraints.get(name)(torch.as_tensor(w))) < 1e-6


@pytest.mark.parametrize("spec", ["l1", "l2", {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}])
def test_regularizers_match_keras(keras, spec):
    w = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    keras_spec = spec if isinstance(spec, str) else keras.regularizers.L1L2(0.1, 0.2)
    expected = float(keras.regularizers.get(keras_spec)(w))
    assert float(regularizers.get(spec)(torch.as_tensor(w))) == pytest.approx(expected, rel=1e-6)
    assert float(regularizers.get("l1_l2")(torch.ones(2))) == pytest.approx(0.01 * 2 + 0.01 * 2)


def test_layer_losses_hold_the_penalties_of_keras_weights():
    layer = layers.GRU(3, kernel_regularizer="l2", recurrent_regularizer=regularizers.L1(0.5),
                       activity_regularizer="l1")
    out = layer(torch.randn(4, 2, 5))
    kernel, recurrent, _ = layer.weights
    expected = [0.01 * kernel.value().square().sum(), 0.5 * recurrent.value().abs().sum(),
                0.01 * out.abs().sum() / 4]
    assert torch.allclose(torch.stack(layer.losses), torch.stack(expected))
    assert layer.losses[0].requires_grad


@pytest.mark.parametrize("build", [
    lambda l: l.Dense(4, activation="relu"),
    lambda l: l.TimeDistributed(l.Dense(3, activation="tanh")),
    lambda l: l.Flatten(),
    lambda l: l.Activation("softsign"),
    lambda l: l.Dropout(0.5),
])
def test_core_layers_match_keras(keras, build):
    x = np.random.default_rng(2).normal(size=(2, 3, 5)).astype("float32")
    expected, got = twin(build(keras.layers), build(layers), x)
    assert max_difference(expected, got) < ATOL


def test_embedding_matches_keras_and_checks_indices(keras):
    tokens = np.array([[1, 2, 0], [4, 0, 0]])
    expected, got = twin(keras.layers.Embedding(5, 3, mask_zero=True), layers.Embedding(5, 3, mask_zero=True),
                         tokens)
    assert max_difference(expected, got) == 0.0
    assert torch.equal(got._keras_mask, torch.as_tensor(tokens != 0))
    with pytest.raises(ValueError, match=r"indices in \[0, input_dim=5\)"):
        layers.Embedding(5, 3)(torch.tensor([[5]]))


def test_training_flag_switches_dropout_for_one_call():
    layer = layers.LSTM(3, dropout=0.5, recurrent_dropout=0.5)
    x = torch.randn(4, 6, 2)
    assert torch.equal(layer(x), layer(x))                       # inference by default, as Keras
    torch.manual_seed(0)
    first = layer(x, training=True)
    torch.manual_seed(1)
    assert not torch.equal(first, layer(x, training=True))
    assert not layer.training and not layer.cell.core.training


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layers.GRU(3, recurrent_dropout=1.5)
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="activation"):
        layers.SimpleRNN(3, activation="swoosh")
    with pytest.raises(ValueError, match="unexpected keyword"):
        layers.Dense(3, kernal_initializer="zeros")
    with pytest.raises(ValueError, match=r"expected inputs of shape \(B, T, features\)"):
        layers.LSTM(3)(torch.zeros(2, 3))
    layer = layers.Dense(2)
    layer(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"expected 2 arrays"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"expected a weight of shape \(3, 2\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="initial_state"):
        layers.LSTM(3)(torch.zeros(2, 4, 5), initial_state=[torch.zeros(2, 3)])


def test_user_cell_runs_through_the_rnn_layer(keras):
    """A Keras-style user cell (state_size + call) steps through rnnkit.RNN."""
    class MinimalCell(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size = units, units

        def build(self, input_shape):
            self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
            self.recurrent = self.add_weight((self.units, self.units), "orthogonal", name="recurrent_kernel")

        def call(self, inputs, states):
            h = torch.tanh(inputs @ self.kernel + states[0] @ self.recurrent)
            return h, [h]

    layer = layers.RNN(MinimalCell(4), return_sequences=True)
    x = torch.randn(2, 5, 3)
    y = layer(x)
    reference = layers.SimpleRNN(4, use_bias=False, return_sequences=True)
    reference(x)
    reference.set_weights(layer.get_weights())
    assert torch.allclose(y, reference(x), atol=1e-6)
