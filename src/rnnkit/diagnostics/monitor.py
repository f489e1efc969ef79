"""``GradientFlowMonitor``: a Trainer callback that records the gradient flow while a model trains.

Every ``every`` optimizer steps (and before the first and after the last) it diagnoses the model on a
fixed probe batch (:func:`~rnnkit.diagnostics.report.diagnose`, without the Jacobian products) and
keeps the relative gradient by lag, the spectra and the verdict. At every optimizer step it feeds
the gradient norm the trainer logs to a :class:`~rnnkit.diagnostics.spikes.SpikeDetector`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..train.callbacks import Callback
from ..train.tree import to_device
from .jacobian import Spectrum
from .plots import plot_curves
from .report import diagnose, summary_lags
from .spikes import SpikeDetector

PLOTTED_RECORDS = 8


@dataclass(frozen=True)
class FlowRecord:
    """One measurement during training.

    Attributes:
        step: optimizer steps done.  relative_by_lag: ``(L, T)`` ``by_lag(d) / by_lag(0)`` per layer.
        spectra: ρ and σ_max of the recurrent weight blocks.  verdict: vanishing / exploding / healthy.
    """

    step: int
    relative_by_lag: torch.Tensor
    spectra: list[Spectrum]
    verdict: str


class GradientFlowMonitor(Callback):
    """Records the gradient flow during training and detects exploding gradients (module docstring).

    Arguments:
        probe: one batch of the model's data; every record measures on it, so records compare.
        every: optimizer steps between records.
        detector: the spike / NaN detector (default ``SpikeDetector()``).
        directory: where :meth:`on_train_end` writes ``gradient_flow.txt`` and
            ``gradient_flow_training.png``; None: ``RUN_DIR/diagnostics`` if the trainer has a run dir.

    The gradient norm comes from the trainer's logs, which carry it when it clips by norm: use
    ``TrainConfig(clip_norm=...)`` (``float("inf")`` measures without clipping).

    Attributes:
        records: the :class:`FlowRecord` list.  detector: the detector with its events.
    """

    def __init__(self, probe: Any, every: int = 100, detector: SpikeDetector | None = None,
                 directory: str | Path | None = None):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every: expected a positive integer, got {every!r}")
        self.probe, self.every = probe, every
        self.detector = detector or SpikeDetector()
        self.directory = directory
        self.records: list[FlowRecord] = []

    def on_train_begin(self, trainer: Any, logs: dict) -> None:
        if trainer.config.clip_norm is None:
            raise ValueError("clip_norm: GradientFlowMonitor reads the gradient norm the trainer logs when it clips "
                             "by norm; set TrainConfig(clip_norm=...) (float('inf') measures without clipping)")
        self._record(trainer, logs["step"])

    def on_train_batch_end(self, trainer: Any, logs: dict) -> None:
        if "grad_norm" not in logs:                                                # no optimizer step ended here
            return
        self.detector.update(logs["step"], logs["grad_norm"], logs.get("loss"))
        if logs["step"] % self.every == 0:
            self._record(trainer, logs["step"])

    def on_train_end(self, trainer: Any, logs: dict) -> None:
        if self.records[-1].step != trainer.step:
            self._record(trainer, trainer.step)
        directory = self.directory
        if directory is None and trainer.run_dir is not None:
            directory = trainer.run_dir / "diagnostics"
        if directory is not None:
            self.write(directory)

    def _record(self, trainer: Any, step: int) -> None:
        report = diagnose(trainer.model, to_device(self.probe, trainer.device), jacobian_rows=0)
        relative = torch.stack([report.flow.relative_by_lag(l) for l in range(report.flow.num_layers)])
        self.records.append(FlowRecord(step, relative, report.spectra, report.verdict))

    def report(self) -> str:
        """One line per record (relative gradient of layer 0 at lags 1, 10, 50, ..., T - 1, the largest ρ,
        the verdict), then the detector's report."""
        lags = summary_lags(self.records[0].relative_by_lag.shape[1]) if self.records else []
        lines = ["gradient flow during training (layer 0, ‖∂L_t/∂h_(t-d)‖ relative to lag 0)",
                 f"{'step':>8}  " + "  ".join(f"{f'd={d}':>9}" for d in lags) + f"  {'max ρ':>6}  verdict"]
        for record in self.records:
            radius = max(s.radius for s in record.spectra)
            values = "  ".join(f"{record.relative_by_lag[0, d].item():>9.2e}" for d in lags)
            lines.append(f"{record.step:>8}  {values}  {radius:>6.3f}  {record.verdict}")
        lines.append(self.detector.report())
        return "\n".join(lines)

    def write(self, directory: str | Path) -> list[Path]:
        """Writes ``gradient_flow.txt`` (:meth:`report`) and ``gradient_flow_training.png`` (layer 0's
        relative gradient by lag at up to 8 of the records). Returns the paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text = directory / "gradient_flow.txt"
        text.write_text(self.report() + "\n", encoding="utf-8")
        stride = max(1, -(-len(self.records) // PLOTTED_RECORDS))
        shown = self.records[::stride]
        if shown[-1] is not self.records[-1]:
            shown.append(self.records[-1])
        curves = {f"step {r.step}": r.relative_by_lag[0] for r in shown}
        figure = plot_curves(curves, directory / "gradient_flow_training.png", "‖∂L_t/∂h_(t-d)‖ / lag 0",
                             "gradient flow during training (layer 0)")
        return [text, figure]
