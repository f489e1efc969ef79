r"""Models for the long-range memory tasks: a recurrent stack and a linear readout V.

For inputs ``x (B, T, I)`` (see :mod:`rnnkit.data.synthetic`)::

    h_t = RNN(x_t, h_{t-1})                L stacked SimpleRNN / LSTM / GRU layers     (B, T, R)
    o_t = h_t V^T + c                      readout at every step                       (B, T, K)

and the loss by target kind:

* ``"regression"`` (adding problem, K = 1): ``(o_{T-1} - y)^2`` averaged over the batch (MSE).
* ``"class"`` (sequential digits): cross-entropy of ``softmax(o_{T-1})`` against the class;
  metric ``accuracy``.
* ``"sequence"`` (copy task): cross-entropy of ``softmax(o_t)`` against ``y_t`` averaged over every
  step; metric ``accuracy`` over the steps whose target is not blank (0), the copied symbols.

For the gradient-flow diagnostics the model also gives the loss it would have if it answered at
every step t, :meth:`MemoryModel.step_losses` (the same readout and loss applied to ``h_t``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.synthetic import MemoryTaskData
from ..nn import LossOutput
from ..recurrent import GRU, LSTM, SimpleRNN

CELLS = {"srn": SimpleRNN, "lstm": LSTM, "gru": GRU}
TARGETS = ("regression", "class", "sequence")


@dataclass(frozen=True)
class MemoryModelConfig:
    """Everything needed to rebuild a :class:`MemoryModel`; saved with its checkpoints.

    Attributes:
        input_size: I.  num_outputs: K (1 for regression, else the classes / symbols).
        target: ``"regression"``, ``"class"`` or ``"sequence"`` (module docstring).
        cell: ``"srn"``, ``"lstm"`` or ``"gru"``.  hidden_size: H.  layers: L.
        cell_options: more cell options, e.g. ``{"forget_bias": 1.0}`` for the LSTM.
    """

    input_size: int
    num_outputs: int
    target: str
    cell: str = "lstm"
    hidden_size: int = 128
    layers: int = 1
    cell_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("input_size", "num_outputs", "hidden_size", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.target == "regression" and self.num_outputs != 1:
            raise ValueError(f"num_outputs: a regression has 1 output, got {self.num_outputs}")
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {self.cell!r}")
        if not isinstance(self.cell_options, dict):
            raise ValueError(f"cell_options: expected a dict, got {type(self.cell_options).__name__}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MemoryModelConfig":
        """The inverse of ``dataclasses.asdict``; ValueError for unknown fields."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"config: unknown MemoryModelConfig fields {unknown}")
        return cls(**data)


def config_for(task: MemoryTaskData, cell: str, hidden_size: int = 128, layers: int = 1,
               forget_bias: float = 1.0) -> MemoryModelConfig:
    """The model config for a task's data: its input size, outputs and target kind.

    Arguments:
        task: from :func:`rnnkit.data.synthetic.memory_task`.  cell: ``srn``, ``lstm`` or ``gru``.
        hidden_size: H.  layers: L.
        forget_bias: added to the LSTM's forget gate (1.0: Gers et al. 2000, Jozefowicz et al. 2015);
            other cells ignore it.
    """
    options = {"forget_bias": float(forget_bias)} if cell == "lstm" and forget_bias else {}
    return MemoryModelConfig(task.input_size, task.num_outputs, task.target, cell, hidden_size, layers, options)


class MemoryModel(nn.Module):
    """Recurrent stack + linear readout (module docstring).

    Arguments:
        config: a :class:`MemoryModelConfig`.

    Parameters: the recurrent layer's (torch.nn names under ``rnn.``) and ``readout.weight (K, R)``,
    ``readout.bias (K)``.
    """

    def __init__(self, config: MemoryModelConfig):
        super().__init__()
        self.config = config
        self.rnn = CELLS[config.cell](config.input_size, config.hidden_size, num_layers=config.layers,
                                      **config.cell_options)
        self.readout = nn.Linear(self.rnn.output_size, config.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readouts at every step: ``x (B, T, I) -> o (B, T, K)``."""
        outputs, _ = self.rnn(x)                                                   # (B, T, R)
        return self.readout(outputs)                                               # (B, T, K)

    def rnn_input(self, batch: Any) -> torch.Tensor:
        """What the recurrent stack reads: ``batch.x (B, T, I)``."""
        return batch.x

    def step_losses(self, outputs: torch.Tensor, batch: Any) -> torch.Tensor:
        """The loss of each row had it answered at each step: ``outputs (B, T, R) -> (B, T)``.

        Regression: ``(o_t - y)^2``; class: cross-entropy of ``o_t`` against ``y``; sequence: against ``y_t``.
        """
        o = self.readout(outputs)                                                  # (B, T, K)
        y = batch.y
        if self.config.target == "regression":
            return (o.squeeze(-1) - y[:, None]) ** 2                               # (B, T)
        targets = y[:, None].expand(o.shape[:2]) if self.config.target == "class" else y  # (B, T)
        return F.cross_entropy(o.transpose(1, 2), targets, reduction="none")       # (B, T)

    def loss(self, batch: Any, state: Any = None) -> LossOutput:
        """The task loss of a :class:`~rnnkit.data.synthetic.SequenceBatch` (module docstring).

        Returns:
            ``LossOutput(loss, count, metrics)``: count is the rows (regression, class) or the steps
            (sequence); ``metrics["accuracy"]`` for the classification targets.
        """
        o = self(batch.x)                                                          # (B, T, K)
        y = batch.y
        if self.config.target == "regression":
            return LossOutput(F.mse_loss(o[:, -1, 0], y), count=y.shape[0])
        if self.config.target == "class":
            last = o[:, -1]                                                        # (B, K)
            accuracy = (last.argmax(-1) == y).float().mean().item()
            return LossOutput(F.cross_entropy(last, y), count=y.shape[0], metrics={"accuracy": accuracy})
        scored = y != 0                                                            # (B, T)
        hits = (o.argmax(-1) == y) & scored
        accuracy = (hits.sum() / scored.sum().clamp_min(1)).item()
        return LossOutput(F.cross_entropy(o.transpose(1, 2), y), count=y.numel(), metrics={"accuracy": accuracy})

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The answers: the value ``(B,)`` (regression), the class ``(B,)`` or the symbols ``(B, T)``."""
        o = self(x)                                                                # (B, T, K)
        if self.config.target == "regression":
            return o[:, -1, 0]
        return o[:, -1].argmax(-1) if self.config.target == "class" else o.argmax(-1)

    @classmethod
    def from_checkpoint(cls, run_dir: str | Path, device: str | torch.device = "cpu") -> "MemoryModel":
        """Rebuilds the model the Trainer saved in ``run_dir`` (safetensors + JSON; nothing unpickled):
        the newest checkpoint that verifies and fits its config (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import restore_model

        model, _ = restore_model(run_dir, cls, MemoryModelConfig, device=device)
        return model
