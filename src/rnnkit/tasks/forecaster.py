r"""Time-series forecasting (N -> 1 and N -> M regression) and the naive baselines it is compared with.

From the last L normalised values (:class:`rnnkit.data.series.Normalizer`) of a window, the model
predicts the next M at once (direct multi-step forecasting)::

    h_1 .. h_L = RNN(z_{t-L} .. z_{t-1})          L stacked layers over the window (B, L, H)
    ẑ_{t .. t+M-1} = W dropout(h_L) + b          the final state of the last layer  (B, M)

trained on the mean squared error over the M outputs (normalised scale). Longer forecasts than M
feed the model's own forecasts back as inputs (:func:`forecast_ahead`).

Baselines for origin t and step h = 0 .. M-1 (m = the seasonal period)::

    naive:           ŷ_{t+h} = y_{t-1}
    seasonal naive:  ŷ_{t+h} = y_{t+h-km},  k = floor(h / m) + 1     (the same season, last seen)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import state_leaves
from ..data.series import Normalizer, WindowBatch
from ..nn import LossOutput
from ..recurrent import GRU, LSTM
from ._config import check_choice, check_positive, check_rate, config_from_dict

CELLS = {"lstm": LSTM, "gru": GRU}


@dataclass(frozen=True)
class ForecasterConfig:
    """Everything needed to rebuild a :class:`Forecaster`; saved with its checkpoints.

    Attributes:
        input_len: L, the values the model reads.  horizon: M, the values it predicts at once.
        cell: ``lstm`` or ``gru``.  hidden_size: H.  layers: stacked layers.
        dropout: between layers and before the output layer.
    """

    input_len: int
    horizon: int = 1
    cell: str = "lstm"
    hidden_size: int = 64
    layers: int = 1
    dropout: float = 0.0

    def __post_init__(self):
        check_positive(self, "input_len", "horizon", "hidden_size", "layers")
        check_choice("cell", self.cell, tuple(CELLS))
        check_rate("dropout", self.dropout)

    @classmethod
    def from_dict(cls, data: dict) -> "ForecasterConfig":
        return config_from_dict(cls, data)


class Forecaster(nn.Module):
    """A recurrent encoder of the window and a linear map from its final state to M forecasts.

    Arguments:
        config: a :class:`ForecasterConfig`.

    Parameters: ``rnn.*`` (torch.nn names), ``output.weight (M, H)``, ``output.bias (M)``.
    """

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = config
        self.rnn = CELLS[config.cell](1, config.hidden_size, num_layers=config.layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, L, 1)`` normalised inputs -> ``(B, M)`` normalised forecasts."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != 1:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected a window of shape (B, L, 1), got {got}")
        _, final = self.rnn(x)
        h_last = state_leaves(final)[0][-1]                                       # (B, H)
        return self.output(self.dropout(h_last))                                   # (B, M)

    def loss(self, batch: WindowBatch, state=None) -> LossOutput:
        """Mean squared error over the ``B * M`` normalised targets."""
        predicted = self(batch.x)                                                  # (B, M)
        return LossOutput(loss=F.mse_loss(predicted, batch.y), count=batch.y.numel())

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["Forecaster", dict]:
        """``(model, metadata)`` from a Trainer checkpoint: a run directory, one checkpoint directory,
        or a loaded :class:`~rnnkit.train.Checkpoint` (checked, no fallback). From a directory, the
        newest checkpoint that verifies and fits its config is used
        (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, ForecasterConfig, device=device)
        return model, checkpoint.metadata


def forecast_windows(model: Forecaster, normalizer: Normalizer, inputs: np.ndarray) -> np.ndarray:
    """Forecasts ``(n, M)`` in the series' units from raw input windows ``(n, L)``."""
    z, _, offsets = normalizer.transform(inputs)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(z, dtype=torch.float32, device=device)[:, :, None]     # (n, L, 1)
        predicted = model(x).double().cpu().numpy()                                # (n, M)
    return normalizer.inverse(predicted, offsets)


def forecast_ahead(model: Forecaster, normalizer: Normalizer, history: np.ndarray, steps: int) -> np.ndarray:
    """The next ``steps`` values after ``history`` (at least L values): M at a time, each block
    appended to the inputs of the next one."""
    length = model.config.input_len
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if len(history) < length:
        raise ValueError(f"history: expected at least input_len={length} values, got {len(history)}")
    values = list(np.asarray(history, dtype=np.float64)[-length:])
    forecasts: list[float] = []
    while len(forecasts) < steps:
        block = forecast_windows(model, normalizer, np.asarray(values[-length:])[None, :])[0]   # (M,)
        forecasts += block.tolist()
        values += block.tolist()
    return np.asarray(forecasts[:steps])


def naive_forecast(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``(n, M)``: the last value before each origin, repeated."""
    return np.repeat(values[origins - 1][:, None], horizon, axis=1)


def seasonal_naive_forecast(values: np.ndarray, origins: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """``(n, M)``: the value one (or more) seasons back, the last one known at the origin."""
    steps = np.arange(horizon)                                                    # (M,)
    back = period * (steps // period + 1)                                          # (M,)
    index = origins[:, None] + steps[None, :] - back[None, :]                     # (n, M)
    if int(index.min()) < 0:
        raise ValueError(f"origins: the seasonal-naive forecast needs {period} values before every origin")
    return values[index]
