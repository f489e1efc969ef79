"""``rnnkit train forecaster`` and ``rnnkit forecast``: time-series regression (N -> 1, N -> M)."""
from __future__ import annotations

import argparse
import sys

from .flags import add, positive_int, require
from .task import TrainTask, register_predict, register_task, task_checkpoint

HISTORY_KEPT = 400


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    require(data.add_argument("--series", help="co2, sunspots, nile, msft, or a CSV / TSV file with a header"))
    data.add_argument("--column", help="value column of a file (default: the last)")
    data.add_argument("--time-column", help="time labels of a file (default: row numbers)")
    data.add_argument("--period", type=positive_int, default=1, help="seasonal period of a file (1: none)")
    data.add_argument("--delimiter", help="of a file (default: tab for .tsv, else comma)")
    data.add_argument("--input-len", type=positive_int, help="values the model reads (default: 2 seasons, at least 12)")
    data.add_argument("--horizon", type=positive_int, default=1, help="values it predicts at once (N -> M)")
    data.add_argument("--normalization", choices=["zscore", "last", "log-last"], default="last",
                      help="zscore: by training mean/std; last: each window relative to its last value (trends); "
                           "log-last: the same on log values (prices)")
    model = parser.add_argument_group("model")
    add(model, "cell", "lstm", choices=("lstm", "gru"))
    add(model, "hidden_size", 64)
    add(model, "layers", 1)
    add(model, "dropout", 0.0)


def run_train(args: argparse.Namespace, run) -> dict:
    import numpy as np

    from ..data.series import Normalizer, WindowBatches, load_series, windows
    from ..tasks.forecaster import (Forecaster, ForecasterConfig, forecast_windows, naive_forecast,
                                    seasonal_naive_forecast)
    from ..tasks.plots import plot_forecast
    from ..tasks.scoring import regression_scores
    from .errors import CommandError
    from .task import fingerprint

    csv_options = {"column": args.column, "time_column": args.time_column, "period": args.period,
                   "delimiter": args.delimiter}
    series = load_series(args.series, **csv_options)
    input_len = args.input_len or max(12, 2 * series.period)
    if input_len < series.period:
        raise CommandError(f"--input-len: expected at least the seasonal period {series.period}, got {input_len}")
    values = series.values
    dev_start, test_start = series.split_points()
    normalizer = Normalizer.fit(values[:dev_start], args.normalization)
    parts = {"train": windows(values, input_len, args.horizon, 0, dev_start),
             "dev": windows(values, input_len, args.horizon, dev_start, test_start),
             "test": windows(values, input_len, args.horizon, test_start, len(values))}
    data = {}
    for name in ("train", "dev"):
        x, y, _ = normalizer.transform(*parts[name][:2])
        data[name] = WindowBatches(x, y, args.batch_size, shuffle=name == "train")
    print(f"{series.name}: {len(values)} values, {len(parts['train'][0])}/{len(parts['dev'][0])}/"
          f"{len(parts['test'][0])} train/dev/test windows of {input_len} -> {args.horizon}, period {series.period}",
          file=sys.stderr)
    config = ForecasterConfig(input_len, args.horizon, args.cell, args.hidden_size, args.layers, args.dropout)
    metadata = {"task": "forecaster", "series": series.name, "period": series.period,
                "normalizer": {"mode": normalizer.mode, "center": normalizer.center, "scale": normalizer.scale},
                "history": values[-HISTORY_KEPT:].tolist(), "times": list(series.times[-HISTORY_KEPT:])}
    trainer = run.fit(Forecaster(config), data["train"], data["dev"], metadata,
                      data_hash=fingerprint(values[:dev_start].tolist()))

    inputs, targets, origins = parts["test"]
    forecasts = {"model": forecast_windows(trainer.model, normalizer, inputs),
                 "naive": naive_forecast(values, origins, args.horizon),
                 "seasonal naive": seasonal_naive_forecast(values, origins, args.horizon, series.period)}
    scores = {name: regression_scores(targets.ravel().tolist(), f.ravel().tolist()) for name, f in forecasts.items()}
    print(f"test ({len(origins)} origins x {args.horizon} steps):")
    for name, s in scores.items():
        print(f"  {name:<15} rmse {s['rmse']:.4f}  mae {s['mae']:.4f}")
    last = args.horizon - 1                                    # plot the forecasts M steps ahead
    shown = {f"{name} (t+{args.horizon})": f[:, last] for name, f in forecasts.items() if name != "naive"}
    context = max(0, test_start - 3 * len(origins))
    plot_forecast(origins + last, values[origins + last], shown, run.file("forecast.png"),
                  title=f"{series.name}: test forecasts {args.horizon} step(s) ahead",
                  history=(np.arange(context, test_start), values[context:test_start]), tick_labels=series.times)
    return {"series": series.name, "windows": len(origins), "horizon": args.horizon, "input_len": input_len, **scores}


TASK = TrainTask(
    "forecaster", help="train an LSTM/GRU forecaster on a time series",
    description="Trains an LSTM/GRU that reads the last --input-len values and predicts the next --horizon (direct "
                "multi-step), keeps the model with the best dev loss, and scores it on the test part against the "
                "naive and seasonal-naive forecasts of the same origins (RMSE, MAE); plots forecast vs truth to "
                "RUN_DIR/forecast.png. The split is chronological: the first 80 % of the values train, the next "
                "10 % are the dev part, the last 10 % the test part.",
    add_flags=add_flags, run=run_train, training={"epochs": 100, "batch_size": 32, "lr": 3e-3, "patience": 15})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    forecast = register_predict(
        commands, "forecast", help="forecast the next values with a trained forecaster",
        description="Prints the next --steps values after the end of the training series (or of --csv), --horizon "
                    "at a time, feeding forecasts back for longer runs; --plot draws them.", func=run_forecast)
    forecast.add_argument("--steps", type=positive_int, required=True, help="values to forecast")
    forecast.add_argument("--csv", help="forecast after the values of this CSV file instead")
    forecast.add_argument("--column", help="value column of --csv (default: the last)")
    forecast.add_argument("--plot", metavar="FILE.png", help="write the history and forecast to this PNG")


def run_forecast(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.series import Normalizer, read_series_csv
    from ..tasks.forecaster import Forecaster, forecast_ahead
    from ..tasks.plots import plot_forecast
    from .task import resolve_device

    model, metadata = Forecaster.from_checkpoint(task_checkpoint(args.run_dir, "forecaster"),
                                                 device=resolve_device(args.device))
    normalizer = Normalizer(**metadata["normalizer"])
    if args.csv:
        history, source = read_series_csv(args.csv, args.column).values, args.csv
    else:
        history, source = np.asarray(metadata["history"]), metadata["series"]
    forecasts = forecast_ahead(model, normalizer, history, args.steps)
    last = metadata["times"][-1] if not args.csv else f"row {len(history) - 1}"
    print(f"# {source}: {args.steps} values after {last} (model reads {model.config.input_len}, "
          f"predicts {model.config.horizon} at a time)")
    for step, value in enumerate(forecasts, 1):
        print(f"t+{step}\t{value:.6g}")
    if args.plot:
        known = history[-max(4 * args.steps, 3 * model.config.input_len):]
        start = len(known)
        plot_forecast(np.arange(start, start + args.steps), [], {"forecast": forecasts}, args.plot,
                      title=f"{source}: forecast of {args.steps} steps", history=(np.arange(start), known))
    return 0
