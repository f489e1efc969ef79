"""compile / fit / evaluate / predict on rnnkit's Trainer: Keras' numbers, callbacks, the tutorial snippet."""
import csv

import numpy as np
import pytest
import torch

import rnnkit.keras as rk
from rnnkit.keras import callbacks, layers, models, optimizers

from kerascases import max_difference, two_heads


def co2_windows(steps: int = 12):
    """The statsmodels CO2 series (monthly means, standardised) cut into (N, steps, 1) windows."""
    sm = pytest.importorskip("statsmodels.api")
    series = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy("float32")
    series = (series - series.mean()) / series.std()
    x = np.stack([series[i:i + steps] for i in range(len(series) - steps)])[..., None]
    y = series[steps:]
    a, b = int(0.8 * len(x)), int(0.9 * len(x))
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])


def test_tutorial_snippet_trains_and_predicts_on_co2():
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = co2_windows()
    torch.manual_seed(0)
    # --- the snippet, only the import line changed ---
    from rnnkit.keras import layers, models
    model = models.Sequential([layers.SimpleRNN(100, return_sequences=True), layers.Dropout(0.2),
                               layers.SimpleRNN(100), layers.Dropout(0.2), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=(x_val, y_val))
    predictions = model.predict(x_test)
    # ---
    assert sorted(history.history) == ["loss", "val_loss"] and history.epoch == [0, 1, 2]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert predictions.shape == (len(x_test), 1) and np.isfinite(predictions).all()
    mse = float(((predictions[:, 0] - y_test) ** 2).mean())
    baseline = float(((y_test - y_train.mean()) ** 2).mean())
    assert mse < 0.2 * baseline
    assert model.evaluate(x_test, y_test, verbose=0) == pytest.approx(mse, rel=1e-4)
    assert not model.training


def _twin_models(keras, build):
    keras_model, ours = build(keras), build(rk)
    ours.set_weights(keras_model.get_weights())
    return keras_model, ours


def test_one_sgd_epoch_equals_keras_with_penalties_and_constraints(keras):
    """Same weights, same data, plain SGD: Keras' loss reduction, L2 penalties and max-norm constraint."""
    def build(module):
        l = module.layers
        return module.Sequential([l.Input((5, 3)), l.LSTM(4, kernel_regularizer="l2", return_sequences=True,
                                                            recurrent_constraint=module.constraints.MaxNorm(0.5)),
                                  l.GRU(3, bias_regularizer=module.regularizers.L1L2(0.01, 0.02)),
                                  l.Dense(1, kernel_constraint="non_neg")])
    keras_model, ours = _twin_models(keras, build)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5, 3)).astype("float32"), rng.normal(size=(16,)).astype("float32")
    keras_model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="mse")
    keras_history = keras_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    our_history = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert max_difference(keras_model.get_weights(), ours.get_weights()) < 1e-5
    assert np.allclose(keras_history.history["loss"], our_history.history["loss"], atol=1e-5)
    assert (ours.layers[-1].kernel >= 0).all()
    recurrent = ours.layers[0].cell.weights[1].value().detach()
    assert float(recurrent.norm(dim=0).max()) <= 0.5 + 1e-6


def test_masked_sequence_loss_equals_keras(keras):
    """A per-step loss under an Embedding mask: Keras divides by the valid steps only."""
    def build(module):
        l = module.layers
        return module.Sequential([l.Input((6,), dtype="int32"), l.Embedding(20, 4, mask_zero=True),
                                  l.LSTM(5, return_sequences=True), l.TimeDistributed(l.Dense(7))])
    keras_model, ours = _twin_models(keras, build)
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 20, size=(6, 6))
    tokens[0, 3:] = 0
    tokens[4, 5:] = 0
    labels = rng.integers(0, 7, size=(6, 6))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    keras_model.compile(optimizer=keras.optimizers.SGD(0.3), loss=loss, metrics=["accuracy"])
    ours.compile(optimizer=optimizers.SGD(0.3), loss=rk.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=["accuracy"])
    expected = keras_model.evaluate(tokens, labels, verbose=0, return_dict=True)
    got = ours.evaluate(tokens, labels, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected["loss"], abs=1e-5)
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-5)
    keras_model.fit(tokens, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    ours.fit(tokens, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    assert max_difference(keras_model.get_weights(), ours.get_weights()) < 1e-5


def small_regressor():
    return models.Sequential([layers.Input((4, 2)), layers.GRU(3), layers.Dense(1)])


@pytest.fixture
def data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 4, 2)).astype("float32")
    return x, x.sum(axis=(1, 2)) * 0.1


def test_early_stopping_stops_and_restores_the_best_weights(data):
    x, y = data
    model = small_regressor()
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Snapshot(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.get_weights())

    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=8, callbacks=[Snapshot(), stopper], verbose=0)
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert max_difference(seen[0], model.get_weights()) == 0.0
    assert max_difference(seen[1], model.get_weights()) > 0.0


def test_user_callback_can_stop_training(data):
    x, y = data
    model = small_regressor()
    model.compile(optimizer="adam", loss="mse")

    class StopAtTwo(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    assert model.fit(x, y, epochs=5, callbacks=[StopAtTwo()], verbose=0).epoch == [0, 1]


def test_reduce_lr_on_plateau_lowers_the_rate_in_use(data):
    x, y = data
    model = small_regressor()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.04), loss="mse")
    rates = []

    class Rate(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(self.model._active_trainer.optimizer.param_groups[0]["lr"])

    reducer = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
    history = model.fit(x, y, epochs=3, batch_size=20, callbacks=[reducer, Rate()], verbose=0)
    assert history.history["learning_rate"] == pytest.approx([0.04, 0.04, 0.02])
    assert rates == pytest.approx([0.04, 0.04, 0.04, 0.04, 0.02, 0.02])
    assert model.optimizer.learning_rate == pytest.approx(0.01)


def test_checkpoint_csv_and_tensorboard_files(data, tmp_path):
    x, y = data
    model = small_regressor()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "w{epoch:02d}.weights.h5"), save_weights_only=True),
        callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_loss", save_best_only=True),
        callbacks.CSVLogger(tmp_path / "log.csv"), callbacks.TensorBoard(tmp_path / "tb")])
    assert (tmp_path / "w01.weights.h5").exists() and (tmp_path / "best.keras").exists()
    restored = small_regressor()
    restored.load_weights(tmp_path / "w02.weights.h5")
    assert max_difference(restored.get_weights(), model.get_weights()) == 0.0
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert float(rows[1]["val_loss"]) == pytest.approx(history.history["val_loss"][1])
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert list((tmp_path / "tb" / "train").iterdir()) and list((tmp_path / "tb" / "validation").iterdir())


def test_validation_split_holds_out_the_last_samples(data):
    x, y = data
    model = small_regressor()
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[30:], y[30:], verbose=0), rel=1e-5)


def test_class_weight_scales_each_sample_loss():
    x = np.zeros((4, 3, 1), "float32")
    y = np.array([0, 1, 1, 0], "float32")
    model = models.Sequential([layers.Input((3, 1)), layers.SimpleRNN(2), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["binary_crossentropy"],
                  weighted_metrics=["accuracy"])
    p = float(model.predict(x[:1], verbose=0)[0, 0])
    weighted, plain, accuracy = model.evaluate(x, y, verbose=0, sample_weight=np.array([1.0, 3.0, 3.0, 1.0]))
    assert weighted == pytest.approx((2 * -np.log(1 - p) + 6 * -np.log(p)) / 4, rel=1e-5)
    assert plain == pytest.approx((2 * -np.log(1 - p) + 2 * -np.log(p)) / 4, rel=1e-5)
    assert accuracy == pytest.approx((6.0 if p > 0.5 else 2.0) / 8)
    rk_weights = rk.data_adapter.class_weights(torch.as_tensor(y), {0: 1.0, 1: 3.0})
    assert rk_weights.tolist() == [1.0, 3.0, 3.0, 1.0]


def test_fit_needs_compile_and_rejects_bad_arguments(data):
    x, y = data
    model = small_regressor()
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="optimizer"):
        model.compile(optimizer="adamax", loss="mse")
    with pytest.raises(ValueError, match="monitor"):
        model.fit(x, y, callbacks=[callbacks.EarlyStopping()], verbose=0)


def test_optimizer_state_carries_over_between_fits(data):
    x, y = data
    model = small_regressor()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    moments = model._optimizer_state["state"]
    assert moments and all(int(s["step"]) == 2 for s in moments.values())
    model.fit(x, y, epochs=1, verbose=0)
    assert all(int(s["step"]) == 4 for s in model._optimizer_state["state"].values())


def test_multi_output_losses_weights_and_metrics_equal_keras(keras):
    keras_model, ours = _twin_models(keras, two_heads)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 7, 3)).astype("float32")
    targets = {"level": rng.normal(size=(10, 1)).astype("float32"), "trend": rng.normal(size=(10, 2)).astype("float32")}
    for model, module in ((keras_model, keras), (ours, rk)):
        model.compile(optimizer=module.optimizers.SGD(0.1), loss={"level": "mse", "trend": "mae"},
                      loss_weights={"level": 1.0, "trend": 0.5}, metrics={"trend": ["mse"]})
    expected = keras_model.evaluate(x, targets, verbose=0, return_dict=True)
    got = ours.evaluate(x, targets, verbose=0, return_dict=True)
    assert set(got) == set(expected) == {"loss", "level_loss", "trend_loss", "trend_mse"}
    assert all(got[name] == pytest.approx(expected[name], abs=1e-5) for name in expected)
    assert ours.evaluate(x, [targets["level"], targets["trend"]], verbose=0) == pytest.approx(
        keras_model.evaluate(x, [targets["level"], targets["trend"]], verbose=0), abs=1e-5)
    keras_model.fit(x, targets, batch_size=5, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, targets, batch_size=5, epochs=1, shuffle=False, verbose=0)
    assert max_difference(keras_model.get_weights(), ours.get_weights()) < 1e-5


def test_frozen_layers_keep_their_weights_and_count_as_non_trainable(data):
    x, y = data
    model = models.Sequential([layers.Input((4, 2)), layers.LSTM(3, trainable=False), layers.Dense(1)])
    frozen = model.layers[0].get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert max_difference(frozen, model.layers[0].get_weights()) == 0.0
    assert [w.path for w in model.non_trainable_weights] == [w.path for w in model.layers[0].weights]
    lines = []
    model.summary(print_fn=lines.append)
    assert f"Non-trainable params: {model.layers[0].count_params():,}" in "\n".join(lines)
