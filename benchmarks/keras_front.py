"""rnnkit.keras against Keras 3 (torch backend): the same models, the same weights, side by side.

Two models from Keras tutorials, both built from identical code with only the import changed:

- ``forecaster``: the issue's snippet, SimpleRNN(100) -> Dropout -> SimpleRNN(100) -> Dropout -> Dense(1),
  on windows (T=20) of the statsmodels CO2 series;
- ``classifier``: Embedding(5000, 64, mask_zero=True) -> LSTM(64) -> Dense(1, sigmoid) on random token
  sequences (T=80) with right padding.

For each model and framework, alternating in rounds in one process: training samples/s of one
``fit`` epoch (batch 32, Adam) and inference samples/s of ``predict`` (batch 256). Before timing, the
rnnkit model takes Keras' initial weights and both predict on the same inputs: the largest difference
is printed to show that the two compute the same function. Run::

    python benchmarks/keras_front.py --rounds 3 --threads 1

and copy the table into BENCHMARKS.md (section "Keras front").
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

os.environ["KERAS_BACKEND"] = "torch"


def forecaster(module):
    layers = module.layers
    return module.Sequential([layers.Input((20, 1)), layers.SimpleRNN(100, return_sequences=True),
                              layers.Dropout(0.2), layers.SimpleRNN(100), layers.Dropout(0.2), layers.Dense(1)])


def classifier(module):
    layers = module.layers
    return module.Sequential([layers.Input((80,), dtype="int32"), layers.Embedding(5000, 64, mask_zero=True),
                              layers.LSTM(64), layers.Dense(1, activation="sigmoid")])


def co2_windows(steps: int = 20):
    import statsmodels.api as sm
    series = sm.datasets.co2.load_pandas().data["co2"].interpolate().to_numpy("float32")
    series = (series - series.mean()) / series.std()
    x = np.stack([series[i:i + steps] for i in range(len(series) - steps)])[..., None]
    return x, series[steps:], "mse"


def token_sequences(samples: int = 2048, steps: int = 80):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 5000, size=(samples, steps))
    lengths = rng.integers(10, steps + 1, size=samples)
    x[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    return x, (x[:, 0] % 2).astype("float32"), "binary_crossentropy"


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import keras

    import rnnkit.keras as rk
    print(f"keras {keras.__version__} (backend {keras.backend.backend()}), torch {torch.__version__}, "
          f"{args.threads} thread(s)")
    print("| model | framework | fit samples/s | predict samples/s |\n|---|---|---|---|")
    for build, data in ((forecaster, co2_windows), (classifier, token_sequences)):
        x, y, loss = data()
        models = {"keras": build(keras), "rnnkit.keras": build(rk)}
        models["rnnkit.keras"].set_weights(models["keras"].get_weights())
        gap = np.abs(models["keras"].predict(x[:256], verbose=0) - models["rnnkit.keras"].predict(x[:256])).max()
        print(f"<!-- {build.__name__}: max |keras - rnnkit.keras| on equal weights = {gap:.2e} -->")
        for model in models.values():
            model.compile(optimizer="adam", loss=loss)
        fit_rates = {name: [] for name in models}
        predict_rates = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                fit_rates[name].append(len(x) / timed(lambda: model.fit(x, y, batch_size=32, epochs=1, verbose=0)))
                predict_rates[name].append(len(x) / timed(lambda: model.predict(x, batch_size=256, verbose=0)))
        for name in models:
            print(f"| {build.__name__} | {name} | {statistics.median(fit_rates[name]):,.0f} | "
                  f"{statistics.median(predict_rates[name]):,.0f} |")


if __name__ == "__main__":
    main()
