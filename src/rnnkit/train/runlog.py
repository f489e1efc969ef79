"""What a training run reports: ``log.csv``, TensorBoard events, ``events.log``, the console, ``loss.png``.

Only rank 0 owns a :class:`RunLog`. Rows go to ``RUN_DIR/log.csv`` with the columns
``step, epoch, loss, val_loss, val_accuracy, lr, units_per_s, elapsed`` (empty where a row has no such
value: ``val_accuracy`` only for models whose validation reports one, and in logs written before it
existed; a row's loss is the training loss since the previous row with one), to TensorBoard
(``RUN_DIR/tensorboard``) when ``torch.utils.tensorboard`` imports, and to the console: a rich
progress bar (loss, units/s, ETA) when stderr is a terminal or ``RNNKIT_PROGRESS=1``, else one line
per row, so CI logs stay readable. One-off messages (what a resume changed, why training stopped)
go to the console and, timestamped, to ``RUN_DIR/events.log``. ``close`` draws ``RUN_DIR/loss.png``.
A failed write raises an ``OSError`` naming the file.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import time
from pathlib import Path

from .files import replace_atomically, writing

COLUMNS = ("step", "epoch", "loss", "val_loss", "val_accuracy", "lr", "units_per_s", "elapsed")
FILES = ("log.csv", "loss.png", "tensorboard", "events.log")    # what a RunLog writes in the run directory


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
        self._csv = self._events = self._tensorboard = self._progress = None
        if run_dir is not None:
            with writing(run_dir / "log.csv"):
                run_dir.mkdir(parents=True, exist_ok=True)
                self.rows = [row for row in _read_csv(run_dir / "log.csv") if row["step"] <= start_step]
                replace_atomically(run_dir / "log.csv", _csv_text(self.rows).encode("utf-8"))
                self._csv = open(run_dir / "log.csv", "a", newline="", encoding="utf-8")
            with writing(run_dir / "events.log"):
                self._events = open(run_dir / "events.log", "a", encoding="utf-8")
            with writing(run_dir / "tensorboard"):
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
            with writing(self.run_dir / "log.csv"):
                csv.writer(self._csv).writerow(["" if row[c] is None else row[c] for c in COLUMNS])
                self._csv.flush()
        if self._tensorboard is not None:
            with writing(self.run_dir / "tensorboard"):
                for name in ("loss", "val_loss", "val_accuracy", "lr", "units_per_s"):
                    if row[name] is not None:
                        self._tensorboard.add_scalar(name, row[name], global_step=row["step"])
        if self._lines:
            print(_format(row), file=sys.stderr, flush=True)
        elif self._progress is not None and row["val_loss"] is not None:
            self._progress.console.print(_format(row))

    def message(self, text: str) -> None:
        """A one-off line (e.g. why training stopped): the console and ``events.log``."""
        if self._events is not None:
            with writing(self.run_dir / "events.log"):
                self._events.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {text}\n")
                self._events.flush()
        if self._progress is not None:
            self._progress.console.print(text)
        elif self._lines:
            print(text, file=sys.stderr, flush=True)

    def release(self) -> None:
        """Stops the bar and closes the files after training failed: no ``loss.png``, and an error while
        closing is dropped (the failure that ended training is the one reported)."""
        self._stop(lambda: contextlib.suppress(OSError))

    def close(self) -> None:
        """Stops the bar, closes the files and draws ``loss.png``."""
        self._stop(lambda: writing(self.run_dir))
        if self.run_dir is not None:
            with writing(self.run_dir / "loss.png"):
                plot_losses(self.rows, self.run_dir / "loss.png")

    def _stop(self, on_error) -> None:
        """Stops the bar and closes each open file inside ``on_error()`` (a context manager for its errors)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        for name in ("_csv", "_events", "_tensorboard"):
            handle = getattr(self, name)
            setattr(self, name, None)
            if handle is not None:
                with on_error():
                    handle.close()


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
    image = io.BytesIO()
    figure.savefig(image, format="png")
    replace_atomically(path, image.getvalue())


def _format(row: dict) -> str:
    parts = [f"step {row['step']}", f"epoch {row['epoch']}"]
    for name, spec in (("loss", ".4f"), ("val_loss", ".4f"), ("val_accuracy", ".4f"), ("lr", ".3g"),
                       ("units_per_s", ",.0f")):
        if row[name] is not None:
            parts.append(f"{name} {row[name]:{spec}}")
    parts.append(f"elapsed {row['elapsed']:.1f}s")
    return "  ".join(parts)


def _read_csv(path: Path) -> list[dict]:
    """The rows of a previous ``log.csv``; rows that do not parse (a write cut short) are dropped."""
    if not path.exists():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            try:
                rows.append({name: None if row.get(name) in (None, "") else
                             int(row[name]) if name in ("step", "epoch") else float(row[name]) for name in COLUMNS})
            except (TypeError, ValueError):
                continue
    return [row for row in rows if row["step"] is not None]


def _csv_text(rows: list[dict]) -> str:
    """The CSV (header + ``rows``)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return text.getvalue()


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

