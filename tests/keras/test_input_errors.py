"""fit / evaluate / predict given data of the wrong shape: a ValueError naming the argument and both shapes."""
import numpy as np
import pytest

from rnnkit.keras import layers, models

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 5, 2)).astype("float32")


def regression(loss="mse", units=1, return_sequences=False):
    model = models.Sequential([layers.Input((5, 2)), layers.LSTM(3, return_sequences=return_sequences),
                               layers.Dense(units)])
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("y_shape", [(8, 3), (8, 2)])
def test_targets_of_the_wrong_width(y_shape):
    model = regression()
    y = RNG.normal(size=y_shape).astype("float32")
    message = (rf"^y: a batch of shape \(8, {y_shape[1]}\) does not fit the model's output of shape \(8, 1\); "
               "mean_squared_error expects targets of the output's shape")
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(X, y, batch_size=8, verbose=0)


def test_per_step_targets_and_named_outputs():
    model = regression(return_sequences=True)
    with pytest.raises(ValueError, match=r"^y: a batch of shape \(8, 1\) does not fit the model's output of shape "
                                         r"\(8, 5, 1\)"):
        model.fit(X, np.zeros((8, 1), "float32"), batch_size=8, verbose=0)
    model.fit(X, np.zeros((8, 5), "float32"), batch_size=8, verbose=0)      # (B, T) against (B, T, 1): Keras'
    inputs = layers.Input((5, 2))
    hidden = layers.GRU(3)(inputs)
    two = models.Model(inputs, [layers.Dense(1, name="price")(hidden), layers.Dense(2, name="volume")(hidden)])
    two.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"^y: a batch of shape \(8, 3\) does not fit the output 'volume'"):
        two.fit(X, [np.zeros((8, 1), "float32"), np.zeros((8, 3), "float32")], batch_size=8, verbose=0)


def test_labels_for_classification_losses():
    model = regression("sparse_categorical_crossentropy", units=3)
    with pytest.raises(ValueError, match=r"^y: a batch of shape \(8, 2\) does not fit .* integer labels"):
        model.fit(X, np.zeros((8, 2), "int64"), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"^y: labels in \[1, 3\] do not fit the 3 classes"):
        model.evaluate(X, np.array([1, 3] * 4), batch_size=8, verbose=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"^y: .*one-hot targets .*use sparse_categorical_crossentropy"):
        model.fit(X, np.zeros(8, "int64"), batch_size=8, verbose=0)


def test_missing_targets_lengths_weights_and_empty_data():
    model = regression()
    y = np.zeros((8, 1), "float32")
    with pytest.raises(ValueError, match=r"^y: the loss needs targets"):
        model.fit(X, None, verbose=0)
    with pytest.raises(ValueError, match=r"^x / y / sample_weight: .* got lengths \[7, 8\]"):
        model.fit(X, y[:7], verbose=0)
    with pytest.raises(ValueError, match=r"^sample_weight: a batch of shape \(8, 3\) does not fit the loss values"):
        model.fit(X, y, sample_weight=np.ones((8, 3), "float32"), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="^x: expected at least one sample, got none"):
        model.fit(X[:0], y[:0], verbose=0)


@pytest.mark.parametrize("shape", [(8, 5, 3), (8, 5), (8, 5, 2, 1)], ids=["width", "rank 2", "rank 4"])
def test_inputs_of_the_wrong_width_or_rank(shape):
    model = regression()
    x = RNG.normal(size=shape).astype("float32")
    with pytest.raises(ValueError, match=r"^(x|lstm\w*): expected"):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=r"^(x|lstm\w*): expected"):
        model.fit(x, np.zeros((8, 1), "float32"), verbose=0)
