r"""Time series: packaged series, the user's CSV columns, chronological splits, normalisation, windows.

Packaged series (nothing downloaded):

| name       | values                                        | source                                   | period m |
|------------|-----------------------------------------------|------------------------------------------|----------|
| ``co2``    | 526 monthly means, 1958-03 .. 2001-12 (ppm)   | ``statsmodels.datasets.co2`` (weekly;    | 12       |
|            |                                               | monthly means, gaps interpolated)        |          |
| ``sunspots`` | 309 yearly sunspot numbers, 1700 .. 2008    | ``statsmodels.datasets.sunspots``        | 11       |
| ``nile``   | 100 yearly Nile flows, 1871 .. 1970           | ``statsmodels.datasets.nile``            | 1        |
| ``msft``   | 7,983 daily closing prices, 1986 .. 2017      | ``pmdarima.datasets.load_msft()``        | 5        |

The period m is what the seasonal-naive baseline repeats (1: no season, it equals the naive one).

Split (chronological, no shuffling): the first 80 % of the values train, the next 10 % are the
development part and the last 10 % the test part. A window's targets lie inside one part; its
inputs may reach back into the parts before (that is only the known past).

Windows: input ``x = y[t-L .. t-1]`` (L = ``input_len``) and target ``y[t .. t+M-1]`` (M = ``horizon``);
t is the forecast origin. Normalisation (statistics from the training part only):

* ``zscore``:   z = (y - μ) / σ                           μ, σ: mean and std of the training part
* ``last``:     z = (y - y[t-1]) / σ_Δ                    each window relative to its last input;
                                                          σ_Δ: std of the lag-1 differences (trend-free)
* ``log-last``: as ``last`` on log y (positive series such as prices: relative changes)
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .corpora import INSTALL_HINT
from .textfile import read_text

NORMALIZATIONS = ("zscore", "last", "log-last")
SERIES = ("co2", "sunspots", "nile", "msft")
TRAIN_FRACTION, DEV_FRACTION = 0.8, 0.1


@dataclass(frozen=True)
class Series:
    """One univariate series.

    Attributes:
        name: the packaged name or ``PATH:COLUMN``.  values: ``(N,)`` float64.
        times: N labels (dates or years) for printing and plots.  period: the seasonal period m.
    """

    name: str
    values: np.ndarray
    times: tuple[str, ...]
    period: int = 1

    def split_points(self) -> tuple[int, int]:
        """``(dev_start, test_start)``: indices where the development and test parts begin."""
        n = len(self.values)
        return int(round(TRAIN_FRACTION * n)), int(round((TRAIN_FRACTION + DEV_FRACTION) * n))


def _statsmodels(name: str):
    try:
        import statsmodels.datasets as datasets
    except ImportError as err:
        raise ValueError(f"series {name!r} needs the package 'statsmodels', which is not installed: "
                         f"{INSTALL_HINT}") from err
    return datasets


def co2() -> Series:
    """Mauna Loa CO2: weekly readings averaged per month, missing months linearly interpolated."""
    weekly = _statsmodels("co2").co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate()
    return Series("co2", monthly.to_numpy(dtype=np.float64), tuple(t.strftime("%Y-%m") for t in monthly.index), 12)


def sunspots() -> Series:
    data = _statsmodels("sunspots").sunspots.load_pandas().data
    return Series("sunspots", data["SUNACTIVITY"].to_numpy(dtype=np.float64),
                  tuple(str(int(y)) for y in data["YEAR"]), 11)


def nile() -> Series:
    data = _statsmodels("nile").nile.load_pandas().data
    return Series("nile", data["volume"].to_numpy(dtype=np.float64), tuple(str(int(y)) for y in data["year"]), 1)


def msft() -> Series:
    try:
        from pmdarima.datasets import load_msft
    except ImportError as err:
        raise ValueError(f"series 'msft' needs the package 'pmdarima', which is not installed: {INSTALL_HINT}") from err
    data = load_msft()
    return Series("msft", data["Close"].to_numpy(dtype=np.float64), tuple(data["Date"].astype(str)), 5)


def read_series_csv(path: str | Path, column: str | None = None, time_column: str | None = None,
                    period: int = 1, delimiter: str | None = None, encoding: str = "utf-8") -> Series:
    """One numeric column of a CSV / TSV file with a header row.

    Arguments:
        path: the file (tab-delimited for ``.tsv``/``.tab``, else comma, unless ``delimiter``).
        column: the value column's header name; None takes the last column.
        time_column: a column of time labels; None numbers the rows.
        period: the seasonal period m (1: none).
    Raises:
        ValueError: a missing column, a value that is not a number, fewer than 20 values.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    rows = [row for row in csv.reader(io.StringIO(read_text(path, encoding)), delimiter=delimiter) if row]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header row and values, got {len(rows)} rows")
    header, rows = rows[0], rows[1:]
    column = header[-1] if column is None else column
    for name, wanted in (("column", column), ("time_column", time_column)):
        if wanted is not None and wanted not in header:
            raise ValueError(f"{name}: expected a column of the header {header!r} of {path}, got {wanted!r}")
    index = header.index(column)
    values = []
    for number, row in enumerate(rows, 2):
        try:
            values.append(float(row[index]))
        except (ValueError, IndexError) as err:
            got = row[index] if index < len(row) else "nothing"
            raise ValueError(f"{path}: row {number}, column {column!r}: expected a number, got {got!r}") from err
    if len(values) < 20 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{path}: expected at least 20 finite values in column {column!r}, got {len(values)}")
    times = tuple(row[header.index(time_column)] for row in rows) if time_column else tuple(map(str, range(len(rows))))
    if not isinstance(period, int) or period < 1:
        raise ValueError(f"period: expected a positive integer, got {period!r}")
    return Series(f"{path}:{column}", np.asarray(values, dtype=np.float64), times, period)


def load_series(name: str, **csv_options) -> Series:
    """A packaged series by name or a CSV file (``csv_options`` go to :func:`read_series_csv`)."""
    loaders = {"co2": co2, "sunspots": sunspots, "nile": nile, "msft": msft}
    if name in loaders:
        return loaders[name]()
    if not Path(name).exists():
        raise ValueError(f"series: expected one of {', '.join(SERIES)} or a CSV file, got {name!r} (no such file)")
    return read_series_csv(name, **csv_options)


@dataclass(frozen=True)
class Normalizer:
    """The map between values and the model's scale (see the module docstring).

    Attributes:
        mode: ``zscore``, ``last`` or ``log-last``.  center: μ (``zscore``; else 0).  scale: σ or σ_Δ.
    """

    mode: str
    center: float
    scale: float

    @classmethod
    def fit(cls, train: np.ndarray, mode: str) -> "Normalizer":
        """Statistics of the training values."""
        if mode not in NORMALIZATIONS:
            raise ValueError(f"normalization: expected one of {', '.join(NORMALIZATIONS)}, got {mode!r}")
        if mode == "log-last" and float(np.min(train)) <= 0:
            raise ValueError(f"normalization: 'log-last' needs positive values, "
                             f"got a minimum of {float(np.min(train))}")
        values = np.log(train) if mode == "log-last" else train
        if mode == "zscore":
            center, scale = float(values.mean()), float(values.std())
        else:
            center, scale = 0.0, float(np.diff(values).std())
        if not scale > 0:
            raise ValueError(f"series: the training part is constant, nothing to normalise (mode {mode!r})")
        return cls(mode, center, scale)

    def transform(self, inputs: np.ndarray, targets: np.ndarray | None = None):
        """``(x (n, L), y (n, M) or None, offsets (n,))`` on the model's scale; ``inputs (n, L)`` raw values."""
        x, y = (np.log(inputs), None if targets is None else np.log(targets)) if self.mode == "log-last" \
            else (inputs, targets)
        offsets = np.full(len(x), self.center) if self.mode == "zscore" else x[:, -1].copy()
        scaled = (x - offsets[:, None]) / self.scale
        return scaled, None if y is None else (y - offsets[:, None]) / self.scale, offsets

    def inverse(self, z: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Model outputs ``z (n, M)`` back to values, given the offsets :meth:`transform` returned."""
        values = z * self.scale + offsets[:, None]
        return np.exp(values) if self.mode == "log-last" else values


def windows(values: np.ndarray, input_len: int, horizon: int, start: int,
            end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window whose targets lie in ``values[start:end]``.

    Returns:
        ``(inputs (n, L), targets (n, M), origins (n,))``: origins t run over ``max(start, L) .. end - M``.
    Raises:
        ValueError: no window fits.
    """
    origins = np.arange(max(start, input_len), end - horizon + 1)
    if len(origins) == 0:
        raise ValueError(f"input_len, horizon: no window with {input_len} inputs and {horizon} targets fits in "
                         f"values[{start}:{end}] of a series of {len(values)}; use a shorter input_len or horizon")
    inputs = np.stack([values[t - input_len:t] for t in origins])                 # (n, L)
    targets = np.stack([values[t:t + horizon] for t in origins])                  # (n, M)
    return inputs, targets, origins


@dataclass
class WindowBatch:
    """``x (B, L, 1)`` normalised inputs and ``y (B, M)`` normalised targets (None to predict)."""

    x: torch.Tensor
    y: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "WindowBatch":
        return WindowBatch(self.x.to(device), None if self.y is None else self.y.to(device))


class WindowBatches:
    """Re-iterable batches of windows; ``shuffle`` draws each pass's order from torch's global generator."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.x = torch.as_tensor(x, dtype=torch.float32)[:, :, None]              # (n, L, 1)
        self.y = torch.as_tensor(y, dtype=torch.float32)                           # (n, M)
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[WindowBatch]:
        order = torch.randperm(len(self.x)) if self.shuffle else torch.arange(len(self.x))
        for i in range(0, len(order), self.batch_size):
            rows = order[i:i + self.batch_size]
            yield WindowBatch(self.x[rows], self.y[rows])
