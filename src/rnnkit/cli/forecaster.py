"""``rnnkit train forecaster`` and ``rnnkit forecast``: time-series regression (N -> 1, N -> M)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .task_common import add_training_options, fit_best, task_checkpoint, write_scores

HISTORY_KEPT = 400


def register(commands, train_commands) -> None:
    train = train_commands.add_parser(
        "forecaster", help="train an LSTM/GRU forecaster on a time series",
        description="Trains an LSTM/GRU that reads the last --input-len values and predicts the next --horizon "
                    "(direct multi-step), keeps the model with the best dev loss, and scores it on the test part "
                    "against the naive and seasonal-naive forecasts of the same origins (RMSE, MAE); plots "
                    "forecast vs truth to RUN_DIR/forecast.png. The split is chronological: the first 80 %% of "
                    "the values train, the next 10 %% are the dev part, the last 10 %% the test part.")
    train.add_argument("--series", required=True, help="co2, sunspots, nile, msft, or a CSV / TSV file with a header")
    train.add_argument("--column", help="value column of a file (default: the last)")
    train.add_argument("--time-column", help="time labels of a file (default: row numbers)")
    train.add_argument("--period", type=int, default=1, help="seasonal period of a file (default: 1, none)")
    train.add_argument("--delimiter", help="of a file (default: tab for .tsv, else comma)")
    train.add_argument("--input-len", type=int, help="values the model reads (default: 2 seasons, at least 12)")
    train.add_argument("--horizon", type=int, default=1, help="values it predicts at once (N -> M)")
    train.add_argument("--normalization", choices=["zscore", "last", "log-last"], default="last",
                       help="zscore: by training mean/std; last: each window relative to its last value (trends); "
                            "log-last: the same on log values (prices)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    model.add_argument("--hidden-size", type=int, default=64)
    model.add_argument("--layers", type=int, default=1)
    model.add_argument("--dropout", type=float, default=0.0)
    add_training_options(train, epochs=100, batch_size=32, lr=3e-3, patience=15)
    train.set_defaults(func=run_train)

    forecast = commands.add_parser(
        "forecast", help="forecast the next values with a trained forecaster",
        description="Prints the next --steps values after the end of the training series (or of --csv), "
                    "--horizon at a time, feeding forecasts back for longer runs; --plot draws them.")
    forecast.add_argument("run_dir", metavar="RUN_DIR")
    forecast.add_argument("--steps", type=int, required=True)
    forecast.add_argument("--csv", help="forecast after the values of this CSV file instead")
    forecast.add_argument("--column", help="value column of --csv (default: the last)")
    forecast.add_argument("--plot", help="write the history and forecast to this PNG")
    forecast.set_defaults(func=run_forecast)


def run_train(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.series import Normalizer, WindowBatches, load_series, windows
    from ..tasks.forecaster import (Forecaster, ForecasterConfig, forecast_windows, naive_forecast,
                                    seasonal_naive_forecast)
    from ..tasks.plots import plot_forecast
    from ..tasks.scoring import regression_scores
    from .main import CommandError

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
    trainer = fit_best(Forecaster(config), args, data["train"], data["dev"], metadata)

    inputs, targets, origins = parts["test"]
    forecasts = {"model": forecast_windows(trainer.model, normalizer, inputs),
                 "naive": naive_forecast(values, origins, args.horizon),
                 "seasonal naive": seasonal_naive_forecast(values, origins, args.horizon, series.period)}
    scores = {name: regression_scores(targets.ravel().tolist(), f.ravel().tolist()) for name, f in forecasts.items()}
    write_scores(args.run_dir, "test_scores", {"series": series.name, "windows": len(origins), "horizon": args.horizon,
                                               "input_len": input_len, **scores})
    print(f"test ({len(origins)} origins x {args.horizon} steps):")
    for name, s in scores.items():
        print(f"  {name:<15} rmse {s['rmse']:.4f}  mae {s['mae']:.4f}")
    last = args.horizon - 1                                    # plot the forecasts M steps ahead
    shown = {f"{name} (t+{args.horizon})": f[:, last] for name, f in forecasts.items() if name != "naive"}
    context = max(0, test_start - 3 * len(origins))
    plot_forecast(origins + last, values[origins + last], shown, Path(args.run_dir) / "forecast.png",
                  title=f"{series.name}: test forecasts {args.horizon} step(s) ahead",
                  history=(np.arange(context, test_start), values[context:test_start]), tick_labels=series.times)
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.series import Normalizer, read_series_csv
    from ..tasks.forecaster import Forecaster, forecast_ahead
    from ..tasks.plots import plot_forecast
    from .main import CommandError

    model, metadata = Forecaster.from_checkpoint(task_checkpoint(args.run_dir, "forecaster"))
    if args.steps < 1:
        raise CommandError(f"--steps: expected a positive number of values, got {args.steps}")
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
