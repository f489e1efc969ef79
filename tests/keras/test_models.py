"""Models: summary counts equal Keras', functional graphs, Keras weight files, save / load."""
import re

import numpy as np
import pytest
import torch

import rnnkit.keras as rk
from rnnkit.keras import layers, models

from kerascases import encoder_decoder, max_difference, text_model, tutorial_model, two_heads

ATOL = 1e-5


def total_params(model) -> int:
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    match = re.search(r"Total params: ([\d,]+)", "\n".join(lines))
    return int(match.group(1).replace(",", ""))


BUILDERS = [tutorial_model, text_model, encoder_decoder, two_heads]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_summary_counts_equal_keras(keras, build):
    keras_model, ours = build(keras), build(rk)
    assert total_params(ours) == total_params(keras_model) == keras_model.count_params()
    assert [layer.count_params() for layer in ours.layers if not isinstance(layer, layers.InputLayer)] == \
        [layer.count_params() for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_model.get_weights()]


def _inputs(build, rng):
    if build is text_model:
        tokens = rng.integers(1, 50, size=(3, 6))
        tokens[0, 4:] = 0
        return [tokens]
    if build is encoder_decoder:
        return [rng.normal(size=(3, 7, 6)).astype("float32"), rng.normal(size=(3, 4, 5)).astype("float32")]
    if build is tutorial_model:
        return [rng.normal(size=(3, 20, 1)).astype("float32")]
    return [rng.normal(size=(3, 7, 3)).astype("float32")]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_models_match_keras_with_its_weights(keras, build):
    keras_model, ours = build(keras), build(rk)
    inputs = _inputs(build, np.random.default_rng(0))
    ours.set_weights(keras_model.get_weights())
    call = inputs if len(inputs) > 1 else inputs[0]
    assert max_difference(keras_model(call), ours(call)) < ATOL
    assert max_difference(keras_model.predict(call, verbose=0), ours.predict(call, verbose=0)) < ATOL


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_load_weights_reads_keras_files(keras, build, tmp_path):
    keras_model, ours = build(keras), build(rk)
    keras_model.save_weights(tmp_path / "model.weights.h5")
    ours.load_weights(tmp_path / "model.weights.h5")
    inputs = _inputs(build, np.random.default_rng(1))
    call = inputs if len(inputs) > 1 else inputs[0]
    assert max_difference(keras_model(call), ours(call)) < ATOL
    keras_model.save(tmp_path / "model.keras")
    fresh = build(rk)
    fresh.load_weights(tmp_path / "model.keras")
    assert max_difference(keras_model(call), fresh(call)) < ATOL


def test_keras_reads_our_weight_files(keras, tmp_path):
    ours, keras_model = text_model(rk), text_model(keras)
    ours.save_weights(tmp_path / "ours.weights.h5")
    keras_model.load_weights(tmp_path / "ours.weights.h5")
    tokens = _inputs(text_model, np.random.default_rng(2))[0]
    assert max_difference(keras_model(tokens), ours(tokens)) < ATOL


def test_load_weights_names_a_mismatch(tmp_path):
    first = models.Sequential([layers.Input((4, 2)), layers.LSTM(3), layers.Dense(1)])
    first.save_weights(tmp_path / "w.weights.h5")
    other = models.Sequential([layers.Input((4, 2)), layers.GRU(3), layers.Dense(1)])
    with pytest.raises(ValueError, match="no group /layers/gru"):
        other.load_weights(tmp_path / "w.weights.h5")


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_save_and_load_model_round_trip(build, tmp_path):
    model = build(rk)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.save(tmp_path / "model.keras")
    restored = models.load_model(tmp_path / "model.keras")
    assert type(restored) is type(model)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    for mine, theirs in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    inputs = _inputs(build, np.random.default_rng(3))
    call = inputs if len(inputs) > 1 else inputs[0]
    assert max_difference(model(call), restored(call)) == 0.0
    assert restored.compiled and restored.loss == "mse"


def test_saved_archive_holds_json_and_safetensors_only(tmp_path):
    import zipfile
    model = tutorial_model(rk)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.safetensors"]
        assert b"pickle" not in archive.read("config.json")


def test_deferred_sequential_builds_at_first_call_and_infers_sizes():
    model = models.Sequential([layers.LSTM(4, return_sequences=True), layers.Dense(2)])
    assert not model.built and model.count_params() == 0
    out = model(torch.zeros(5, 3, 7))
    assert out.shape == (5, 3, 2)
    assert model.count_params() == 4 * (4 * (7 + 4) + 4) + 4 * 2 + 2
    assert model.layers[0].output_shape == (None, 3, 4)


def test_functional_shares_layers_and_takes_dict_inputs():
    a, b = layers.Input((5, 2), name="a"), layers.Input((5, 2), name="b")
    shared = layers.GRU(3)
    model = models.Model([a, b], layers.Dense(1)(shared(a)))
    both = models.Model([a, b], [shared(a), shared(b)])
    x = torch.randn(4, 5, 2)
    y = torch.randn(4, 5, 2)
    out_a, out_b = both([x, y])
    assert torch.allclose(out_a, shared(x)) and torch.allclose(out_b, shared(y))
    assert torch.allclose(model({"a": x, "b": y}), model([x, y]))
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model(x)


def test_disconnected_graph_is_rejected():
    a, b = layers.Input((3,)), layers.Input((3,))
    with pytest.raises(ValueError, match="not in inputs"):
        models.Model(a, layers.Dense(1)(b))


def test_reset_states_resets_every_stateful_layer():
    model = models.Sequential([layers.Input(batch_shape=(2, 3, 4)), layers.LSTM(3, stateful=True,
                                                                                 return_sequences=True),
                               layers.Bidirectional(layers.GRU(2, stateful=True))])
    x = torch.randn(2, 3, 4)
    first = model(x)
    assert not torch.allclose(first, model(x))
    model.reset_states()
    assert torch.allclose(first, model(x))
