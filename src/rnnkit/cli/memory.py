"""``rnnkit memory``: trains SRN / LSTM / GRU on a long-range memory task and prints the table.

Each (lag, cell) pair trains a :class:`~rnnkit.tasks.memory.MemoryModel` with the Trainer for a time
budget, then scores it on the task's fixed test set. A :class:`GradientFlowMonitor` watches every run
for exploding gradients and measures the gradient flow before and after training.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_LAG = 100


@dataclass
class MemoryResult:
    """The outcome of one training run.

    Attributes:
        task, lag, cell: what was trained.  steps: optimizer steps done.  seconds: training time.
        test: the test-set loss and metrics (``accuracy`` for the classification tasks); NaN if diverged.
        diverged: the loss became NaN/Inf and the trainer stopped.
        verdicts: the gradient-flow verdict before and after training.
        gradient_curves: layer 0's ``‖∂L_t/∂h_(t-d)‖ / lag 0`` by lag d ``(T,)``, before and after training.
        trace: one dict per epoch: ``minutes``, ``cpu_minutes``, ``step``, ``val_loss`` and ``val_accuracy`` (if
            any) on the test set.
        gradient_report: the spike / NaN detector's report.  events: its events.
    """

    task: str
    lag: int
    cell: str
    steps: int
    seconds: float
    cpu_seconds: float
    test: dict[str, float]
    diverged: bool
    verdicts: tuple[str, str]
    gradient_curves: tuple[Any, Any]
    trace: list[dict]
    gradient_report: str
    events: list = field(default_factory=list)

    @property
    def gradient_lag(self) -> int:
        """d = min(50, T - 1) for the T steps of the task's sequences."""
        return min(50, len(self.gradient_curves[0]) - 1)

    @property
    def relative_gradient(self) -> tuple[float, float]:
        """The relative gradient at :attr:`gradient_lag`, before and after training."""
        return tuple(float(curve[self.gradient_lag]) for curve in self.gradient_curves)


MEMORY_TASKS = ("adding", "copy", "digits", "pdigits")     # rnnkit.data.synthetic.TASKS (a test checks)
CELLS = ("srn", "lstm", "gru")                               # rnnkit.tasks.memory.CELLS (a test checks)


def parse_list(text: str, name: str, convert=str, choices=None) -> list:
    """``"a,b,c"`` -> ``[convert(a), ...]``; CommandError naming ``name`` on a bad item."""
    from .errors import CommandError

    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        values = [convert(item) for item in items]
    except ValueError as err:
        raise CommandError(f"{name}: expected a comma-separated list, got {text!r} ({err})") from err
    bad = [v for v in values if (choices is not None and v not in choices) or (convert is int and v < 1)]
    if not values or bad:
        expected = f" of {', '.join(map(str, choices))}" if choices else " of positive integers"
        raise CommandError(f"{name}: expected a comma-separated list{expected}, got {text!r}")
    return values


def register(commands, train_commands) -> None:
    from .flags import add, add_inference_flags, positive_float, positive_int
    from .main import command

    parser = command(
        commands, "memory", help="train SRN / LSTM / GRU on a long-range memory task and tabulate the results",
        description="Trains each cell at each lag on the adding problem, the copy task or sequential (permuted) "
                    "8x8 digits for a time budget and prints the test MSE / accuracy next to what a model without "
                    "memory scores. Example: rnnkit memory --task adding --lag 50,100,200 --cell srn,lstm,gru "
                    "--minutes 5")
    parser.add_argument("--task", choices=MEMORY_TASKS, default="adding",
                        help="adding problem, copy task, sequential digits, permuted sequential digits")
    parser.add_argument("--lag", help=f"comma-separated lags: the sequence length (adding) or the gap (copy) "
                                      f"(default: {DEFAULT_LAG}; the digits have a fixed 64 steps)")
    add(parser, "cell", ",".join(CELLS), help="comma-separated cells: " + ",".join(CELLS))
    add(parser, "minutes", 2.0, help="wall-clock training time of each run")
    parser.add_argument("--cpu-minutes", type=positive_float,
                        help="also stop a run after this much CPU time (fair budgets on a shared machine)")
    add(parser, "max_steps", help="at most this many optimizer steps per run")
    parser.add_argument("--stop-below", type=positive_float,
                        help="end a run once its test loss at an epoch end is below this (e.g. 0.01 for adding)")
    add(parser, "hidden_size", 128)
    add(parser, "layers", 1)
    add(parser, "batch_size", 64)
    add(parser, "lr", 2e-3, help="Adam's learning rate")
    add(parser, "clip_norm", 1.0)
    parser.add_argument("--forget-bias", type=float, default=1.0, help="the LSTM's forget-gate bias")
    parser.add_argument("--test-size", type=positive_int, default=1000, help="test sequences of the adding / copy task")
    add(parser, "seed", 0)
    parser.add_argument("--monitor-every", type=positive_int, default=250,
                        help="optimizer steps between gradient-flow records")
    add(parser, "run_dir", help="keep each run (checkpoint, log, gradient-flow records) in RUN_DIR/TASK-LAG-CELL, "
                                "for `rnnkit diagnose`")
    add(parser, "overwrite")
    add_inference_flags(parser)
    parser.set_defaults(func=run_memory_command)


def _trace_callback(stop_below: float | None, cpu_minutes: float | None):
    """A callback that keeps ``(minutes, cpu_minutes, step, val_loss, val_accuracy)`` at each epoch end,
    stops the run once ``val_loss < stop_below``, and once the process has used ``cpu_minutes`` of CPU
    time (``time.process_time``; on a shared machine this, not the wall clock, is the compute a run got).
    The training engine is imported only when a run starts."""
    from ..train import Callback

    class Trace(Callback):
        def __init__(self):
            self.rows: list[dict] = []
            self.wall = self.cpu = 0.0

        def on_train_begin(self, trainer, logs):
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def cpu_minutes(self) -> float:
            return (time.process_time() - self.cpu) / 60

        def on_train_batch_end(self, trainer, logs):
            if cpu_minutes is not None and self.cpu_minutes() >= cpu_minutes:
                trainer.stop_training = True

        def on_epoch_end(self, trainer, logs):
            if "val_loss" not in logs:
                return
            row = {"minutes": (time.perf_counter() - self.wall) / 60, "cpu_minutes": self.cpu_minutes(),
                   "step": logs["step"], "val_loss": logs["val_loss"]}
            if "val_accuracy" in logs:
                row["val_accuracy"] = logs["val_accuracy"]
            self.rows.append(row)
            if stop_below is not None and logs["val_loss"] < stop_below:
                trainer.stop_training = True

    return Trace()


def train_memory_model(task: str, lag: int | None, cell: str, *, hidden: int = 128, layers: int = 1,
                       batch_size: int = 64, lr: float = 2e-3, clip_norm: float = 1.0, forget_bias: float = 1.0,
                       minutes: float = 2.0, cpu_minutes: float | None = None, steps: int | None = None,
                       stop_below: float | None = None, test_size: int = 1000, seed: int = 0, monitor_every: int = 250,
                       run_dir: Any = None, device: Any = None) -> MemoryResult:
    """Trains one model on one task (see :func:`register` for the arguments) and scores it on the test set.

    ``minutes`` bounds the wall-clock time, ``cpu_minutes`` (None: no bound) the process's CPU time.
    The test set is also evaluated at each epoch end (100 batches for adding / copy) for the trace
    and for ``stop_below``; nothing is selected on it. ``run_dir``: a path or an open
    :class:`rnnkit.train.RunDir` (None: nothing saved); ``device``: where to train (None: the Trainer's choice).
    """
    import torch

    from ..data.synthetic import SequenceBatch, memory_task
    from ..diagnostics import GradientFlowMonitor
    from ..tasks.memory import MemoryModel, config_for
    from ..train import TrainConfig, Trainer

    data = memory_task(task, lag, batch_size=batch_size, test_size=test_size)
    torch.manual_seed(seed)
    model = MemoryModel(config_for(data, cell, hidden, layers, forget_bias))
    config = TrainConfig(optimizer="adam", lr=lr, clip_norm=clip_norm, epochs=10 ** 9, max_time=60.0 * minutes,
                         max_steps=steps, seed=seed, progress=False)
    probe = SequenceBatch(data.test.x[:16], data.test.y[:16])
    monitor, trace = GradientFlowMonitor(probe, every=monitor_every), _trace_callback(stop_below, cpu_minutes)
    trainer = Trainer(model, config, run_dir=run_dir, callbacks=[monitor, trace], device=device,
                      metadata={"task": task, "lag": None if task in ("digits", "pdigits") else data.lag})
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        trainer.fit(data.train, val_data=data.test)
        diverged = False
    except FloatingPointError:
        diverged = True
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    test = {"loss": float("nan"), "accuracy": float("nan")} if diverged else trainer.evaluate(data.test)
    first, last = monitor.records[0], monitor.records[-1]
    return MemoryResult(task, data.lag, cell, trainer.step, seconds, cpu_seconds, test, diverged,
                        verdicts=(first.verdict, "exploding" if diverged else last.verdict),
                        gradient_curves=(first.relative_by_lag[0], last.relative_by_lag[0]), trace=trace.rows,
                        gradient_report=monitor.detector.report(), events=list(monitor.detector.events))


def format_table(results: list[MemoryResult], baseline: str) -> str:
    """The results as a fixed-width table, one row per run, under the no-memory baseline."""
    regression = results[0].task == "adding"
    score = "test MSE" if regression else "accuracy"
    lines = [f"without memory: {baseline}",
             f"{'lag':>5}  {'cell':<5} {'steps':>7} {'minutes':>8} {'cpu min':>8} {'test loss':>10} {score:>9}  "
             f"{'grad@50 before→after':>22}  verdict before→after"]
    for r in results:
        value = r.test["loss"] if regression else r.test.get("accuracy", float("nan"))
        gradient = f"{r.relative_gradient[0]:.1e}→{r.relative_gradient[1]:.1e}"
        lines.append(f"{r.lag:>5}  {r.cell:<5} {r.steps:>7} {r.seconds / 60:>8.1f} {r.cpu_seconds / 60:>8.1f} "
                     f"{r.test['loss']:>10.4f} "
                     f"{value:>9.4f}  {gradient:>22}  {r.verdicts[0]}→{r.verdicts[1]}"
                     + ("  (diverged)" if r.diverged else "")
                     + (f"  [grad at lag {r.gradient_lag}]" if r.gradient_lag != 50 else ""))
    return "\n".join(lines)


def run_memory_command(args: argparse.Namespace) -> int:
    from ..data.synthetic import memory_task
    from .errors import CommandError
    from .task import resolve_device

    digits = args.task in ("digits", "pdigits")
    if digits and args.lag is not None:
        raise CommandError(f"--lag: the digits are sequences of a fixed 64 pixels; got --lag {args.lag}")
    lags = [None] if digits else parse_list(args.lag or str(DEFAULT_LAG), "--lag", int)
    cells = parse_list(args.cell, "--cell", choices=CELLS)
    clip_norm = None if args.clip_norm == "off" else args.clip_norm
    device = resolve_device(args.device)
    baseline = memory_task(args.task, lags[0], test_size=1).baseline
    print(f"rnnkit memory: task {args.task}, lags {','.join(str(l or 64) for l in lags)}, cells {','.join(cells)}, "
          f"{args.minutes:g} min per run, H={args.hidden_size}", flush=True)
    results = []
    for lag in lags:
        for cell in cells:
            with _run_directory(args, f"{args.task}-{lag or 64}-{cell}") as run_dir:
                result = train_memory_model(
                    args.task, lag, cell, hidden=args.hidden_size, layers=args.layers, batch_size=args.batch_size,
                    lr=args.lr, clip_norm=clip_norm, forget_bias=args.forget_bias, minutes=args.minutes,
                    cpu_minutes=args.cpu_minutes, steps=args.max_steps, stop_below=args.stop_below,
                    test_size=args.test_size, seed=args.seed, monitor_every=args.monitor_every, run_dir=run_dir,
                    device=device)
            results.append(result)
            where = f" ({Path(args.run_dir) / f'{args.task}-{lag or 64}-{cell}'})" if args.run_dir else ""
            print(f"  {args.task} lag {result.lag} {cell}: {result.steps} steps in {result.seconds:.0f} s "
                  f"({result.cpu_seconds:.0f} s CPU), test loss {result.test['loss']:.4f}{where}", flush=True)
            if result.events:
                print("    " + result.gradient_report.replace("\n", "\n    "), flush=True)
    print(format_table(results, baseline))
    return 0


def _run_directory(args: argparse.Namespace, name: str):
    """The locked run directory ``RUN_DIR/name`` of one run (a null context without ``--run-dir``)."""
    import contextlib

    if args.run_dir is None:
        return contextlib.nullcontext()
    from ..train import RunDir

    return RunDir.open(Path(args.run_dir) / name, overwrite=args.overwrite)
