"""The forecasting benchmark of ``tasks.py``: rnnkit's forecaster against naive, seasonal naive, ARIMA and ETS."""
from __future__ import annotations

import argparse

import numpy as np

from rnnkit.data.series import load_series, windows
from rnnkit.tasks.scoring import regression_scores

from task_runs import table, train

FORECAST_ARGS = {  # series -> CLI flags, ARIMA orders (None: pmdarima's auto_arima), ETS (trend, seasonal period)
    "co2": (["--input-len", "24", "--normalization", "last"], ((0, 1, 1), (0, 1, 1, 12)), (True, 12)),
    "sunspots": (["--input-len", "22", "--normalization", "zscore"], None, (False, 11)),
    "nile": (["--input-len", "12", "--normalization", "zscore"], None, (False, None)),
    "msft": (["--input-len", "20", "--normalization", "log-last"], None, (False, None)),
}


def statistical_forecasts(values: np.ndarray, test_start: int, origins: np.ndarray, horizon: int,
                          arima_orders: tuple | None, ets_spec: tuple) -> dict:
    """ARIMA and ETS forecasts ``(n, M)`` from each origin, parameters fitted once on ``values[:test_start]``.

    One step ahead, one Kalman filter pass over the whole series with the fitted parameters gives
    every origin's forecast from the values before it; several steps ahead, each origin is filtered
    on its own.
    """
    import warnings

    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    fitted = values[:test_start]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if arima_orders is None:
            import pmdarima

            auto = pmdarima.auto_arima(fitted, seasonal=False, suppress_warnings=True)
            arima_orders = (auto.order, (0, 0, 0, 0))
        order, seasonal_order = arima_orders
        arima = SARIMAX(fitted, order=order, seasonal_order=seasonal_order,
                        trend="c" if order[1] == 0 and seasonal_order[1] == 0 else None).fit(disp=False)
        trend, season = ets_spec
        ets = ExponentialSmoothing(fitted, trend=trend, seasonal=season).fit(disp=False)
        out = {}
        name = f"ARIMA{order}" + (f"x{seasonal_order}" if seasonal_order[3] else "")
        ets_name = f"ETS (additive{', trend' if trend else ''}{f', season {season}' if season else ''})"
        for label, result in ((name, arima), (ets_name, ets)):
            if horizon == 1:
                predicted = result.apply(values).get_prediction(start=int(origins[0]), end=int(origins[-1]))
                out[label] = np.asarray(predicted.predicted_mean)[:, None]
            else:
                out[label] = np.stack([result.apply(values[:t]).forecast(horizon) for t in origins])
    return out


def forecast(args: argparse.Namespace) -> dict:
    results = {}
    for name in args.series:
        flags, arima_orders, ets_spec = FORECAST_ARGS[name]
        horizon_flags = ["--horizon", str(args.horizon)]
        ours = train(args, args.run_root / f"forecast-{name}-h{args.horizon}",
                     ["forecaster", "--series", name, *flags, *horizon_flags, *args.extra])
        series = load_series(name)
        values = series.values
        _, test_start = series.split_points()
        input_len = ours["input_len"]
        _, targets, origins = windows(values, input_len, args.horizon, test_start, len(values))
        peers = statistical_forecasts(values, test_start, origins, args.horizon, arima_orders, ets_spec)
        scores = {"rnnkit forecaster": ours["model"], "naive": ours["naive"], f"seasonal naive (m={series.period})":
                  ours["seasonal naive"]}
        scores.update({peer: regression_scores(targets.ravel().tolist(), f.ravel().tolist())
                       for peer, f in peers.items()})
        print(f"{name}: {len(origins)} test origins x {args.horizon} step(s)")
        print(table(["forecast", "RMSE", "MAE"], [[n, s["rmse"], s["mae"]] for n, s in scores.items()]))
        results[name] = scores
    return results
