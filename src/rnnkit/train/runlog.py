"""What a training run reports: ``log.csv``, TensorBoard events, the console, and ``loss.png``.

Only rank 0 owns a :class:`RunLog`. Rows go to ``RUN_DIR/log.csv`` with the columns
``step, epoch, loss, val_loss, lr, units_per_s, elapsed`` (empty where a row has no such value),
to TensorBoard (``RUN_DIR/tensorboard``) when ``torch.utils.tensorboard`` imports, and to the
console: a rich progress bar (loss, units/s, ETA) when stderr is a terminal or ``RNNKIT_PROGRESS=1``,
else one line per row, so CI logs stay readable. ``close`` draws ``RUN_DIR/loss.png``.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

COLUMNS = ("step", "epoch", "loss", "val_loss", "lr", "units_per_s", "elapsed")


class RunLog:
    """The reports of one ``fit`` call.

    Arguments:
        run_dir: where ``log.csv``, ``tensorboard/`` and ``loss.png`` go (None: console only).
        console: print anything at all (``TrainConfig.progress``).
        total_steps: the planned optimizer steps (None if unknown), for the bar and its ETA.
        start_step: the step training starts from; rows after it (left by a killed run) are dropped.
    """

    def __init__(self, run_dir: Path | None, console: bool, total_steps: int | None, start_step: int):
        self.run_dir = run_dir
        self.rows: list[dict] = []
        self._csv = self._tensorboard = self._progress = None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.rows = [row for row in _read_csv(run_dir / "log.csv") if row["step"] <= start_step]
            _write_csv(run_dir / "log.csv", self.rows)
            self._csv = open(run_dir / "log.csv", "a", newline="", encoding="utf-8")
            self._tensorboard = _tensorboard_writer(run_dir / "tensorboard", start_step)
        self._lines = console
        if console and (sys.stderr.isatty() or os.environ.get("RNNKIT_PROGRESS") == "1"):
            self._progress, self._task = _progress_bar(total_steps, start_step)
            self._lines = False

    def advance(self, step: int, loss: float, units_per_s: float) -> None:
        """Moves the progress bar to ``step`` (call after every optimizer step)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=f"{loss:.4f}", speed=f"{units_per_s:,.0f}")

    def row(self, **values: float | None) -> None:
        """Records one row (keys from :data:`COLUMNS`; missing ones are empty)."""
        row = {name: values.get(name) for name in COLUMNS}
        self.rows.append(row)
        if self._csv is not None:
            csv.writer(self._csv).writerow(["" if row[c] is None else row[c] for c in COLUMNS])
            self._csv.flush()
        if self._tensorboard is not None:
            for name in ("loss", "val_loss", "lr", "units_per_s"):
                if row[name] is not None:
                    self._tensorboard.add_scalar(name, row[name], global_step=row["step"])
        if self._lines:
            print(_format(row), file=sys.stderr, flush=True)
        elif self._progress is not None and row["val_loss"] is not None:
            self._progress.console.print(_format(row))

    def message(self, text: str) -> None:
        """A one-off line (e.g. why training stopped)."""
        if self._progress is not None:
            self._progress.console.print(text)
        elif self._lines:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stops the bar, closes the files and draws ``loss.png``."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self.run_dir is not None:
            plot_losses(self.rows, self.run_dir / "loss.png")


def plot_losses(rows: list[dict], path: Path) -> None:
    """Draws the training loss and the validation loss against the optimizer step into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, style in (("loss", "-"), ("val_loss", "o-")):
        points = [(r["step"], r[name]) for r in rows if r[name] is not None]
        if points:
            axes.plot(*zip(*points), style, label="validation" if name == "val_loss" else "training", markersize=3)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend()
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, format="png")
    os.replace(tmp, path)


def _format(row: dict) -> str:
    parts = [f"step {row['step']}", f"epoch {row['epoch']}"]
    for name, spec in (("loss", ".4f"), ("val_loss", ".4f"), ("lr", ".3g"), ("units_per_s", ",.0f")):
        if row[name] is not None:
            parts.append(f"{name} {row[name]:{spec}}")
    parts.append(f"elapsed {row['elapsed']:.1f}s")
    return "  ".join(parts)


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{name: (None if row.get(name) in (None, "") else
                        int(row[name]) if name in ("step", "epoch") else float(row[name])) for name in COLUMNS}
                for row in csv.DictReader(handle)]


def _write_csv(path: Path, rows: list[dict]) -> None:
    """Rewrites the CSV (header + ``rows``) atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    os.replace(tmp, path)


def _tensorboard_writer(log_dir: Path, start_step: int):
    """A SummaryWriter (events after ``start_step`` purged), or None if tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=start_step + 1 if start_step else None)


def _progress_bar(total_steps: int | None, start_step: int):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} units/s"),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=False)
    task = progress.add_task("training", total=total_steps, completed=start_step, loss="-", speed="-")
    progress.start()
    return progress, task

