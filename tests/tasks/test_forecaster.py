"""The forecaster and its baselines: hand-computed baselines, normalisation round trips, overfitting co2."""
import numpy as np
import pytest

from rnnkit.data.series import Normalizer, WindowBatches, load_series, windows
from rnnkit.tasks.forecaster import (Forecaster, ForecasterConfig, forecast_ahead, forecast_windows, naive_forecast,
                                     seasonal_naive_forecast)
from rnnkit.train import TrainConfig, Trainer


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def test_baselines_by_hand():
    values = np.arange(10.0) ** 2                                               # 0 1 4 9 16 25 36 49 64 81
    origins = np.array([6, 8])
    assert naive_forecast(values, origins, 2).tolist() == [[25, 25], [49, 49]]
    # period 3, origin 6: targets 6, 7, 8, 9 repeat values 3, 4, 5 and, for 9, 3 again (y_6 is not known yet)
    assert seasonal_naive_forecast(values, origins[:1], 4, 3).tolist() == [[9, 16, 25, 9]]
    with pytest.raises(ValueError, match="needs 3 values before every origin"):
        seasonal_naive_forecast(values, np.array([2]), 1, 3)


def test_windows_cover_their_part():
    values = np.arange(20.0)
    inputs, targets, origins = windows(values, 4, 2, 10, 16)
    assert origins.tolist() == [10, 11, 12, 13, 14]
    assert inputs[0].tolist() == [6, 7, 8, 9] and targets[-1].tolist() == [14, 15]
    with pytest.raises(ValueError, match="no window with 4 inputs and 7 targets fits"):
        windows(values, 4, 7, 10, 16)


@pytest.mark.parametrize("mode", ["zscore", "last", "log-last"])
def test_normalizer_round_trips(mode):
    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(size=60).cumsum() * 0.1) + 1
    normalizer = Normalizer.fit(values[:40], mode)
    inputs, targets, _ = windows(values, 5, 3, 40, 60)
    x, y, offsets = normalizer.transform(inputs, targets)
    assert np.allclose(normalizer.inverse(y, offsets), targets)
    if mode != "zscore":
        assert np.allclose(x[:, -1], 0.0)                                       # each window relative to its last value


def test_normalizer_rejects_bad_input():
    with pytest.raises(ValueError, match="'log-last' needs positive values"):
        Normalizer.fit(np.array([1.0, -1.0, 2.0]), "log-last")
    with pytest.raises(ValueError, match="normalization: expected one of"):
        Normalizer.fit(np.array([1.0, 2.0]), "minmax")


def test_forecaster_overfits_real_co2_windows_and_forecasts_ahead():
    values = load_series("co2").values
    normalizer = Normalizer.fit(values[:200], "last")
    inputs, targets, _ = windows(values, 12, 2, 100, 116)
    x, y, _ = normalizer.transform(inputs, targets)
    data = WindowBatches(x, y, batch_size=16)
    trainer = Trainer(Forecaster(ForecasterConfig(12, horizon=2, hidden_size=16)),
                      TrainConfig(lr=0.02, epochs=150, progress=False), device="cpu")
    trainer.fit(data)
    fitted = forecast_windows(trainer.model, normalizer, inputs)
    assert np.sqrt(np.mean((fitted - targets) ** 2)) < 0.15                      # ppm, vs 1.5 for the naive forecast
    ahead = forecast_ahead(trainer.model, normalizer, values[:100], 5)
    assert ahead.shape == (5,) and np.allclose(ahead[:2], fitted[0])
    with pytest.raises(ValueError, match="history: expected at least input_len=12 values"):
        forecast_ahead(trainer.model, normalizer, values[:5], 3)
