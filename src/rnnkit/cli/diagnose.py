"""``rnnkit diagnose``: the gradient flow of a trained memory-task run, or of an untrained model.

Writes ``summary.txt`` (gradient norm at lags 1, 10, 50, ..., Jacobian-product norms, spectral radii,
the verdict), ``gradient_by_lag.png`` and ``gradient_heatmap.png`` and prints the summary.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_LENGTH = 100


def register(commands, train_commands) -> None:
    from ..data.synthetic import TASKS
    from ..tasks.memory import CELLS

    parser = commands.add_parser(
        "diagnose", help="measure vanishing / exploding gradients of a run or an untrained model",
        description="Measures ‖∂L_t/∂h_k‖ for every k <= t, the Jacobian products through time and the "
                    "spectral radius of the recurrent weights on a batch of the task's test data; writes the plots and "
                    "summary.txt and prints the summary with a verdict (vanishing / exploding / healthy). "
                    "RUN_DIR is a run of `rnnkit memory --run-dir`; or use --cell CELL --untrained.")
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a memory-task run directory")
    parser.add_argument("--untrained", action="store_true", help="diagnose a freshly initialised model")
    parser.add_argument("--cell", choices=tuple(CELLS), help="with --untrained: the cell")
    parser.add_argument("--task", choices=TASKS, default="adding",
                        help="with --untrained: the data (default adding)")
    parser.add_argument("--length", type=int, help=f"with --untrained: the lag / sequence length "
                                                   f"(default {DEFAULT_LENGTH}; the digits have 64)")
    parser.add_argument("--hidden", type=int, default=64, help="with --untrained: hidden units (default 64)")
    parser.add_argument("--layers", type=int, default=1, help="with --untrained: stacked layers")
    parser.add_argument("--forget-bias", type=float, default=1.0, help="with --untrained: the LSTM's forget bias")
    parser.add_argument("--seed", type=int, default=0, help="with --untrained: the initialisation seed")
    parser.add_argument("--batch-size", type=int, default=32, help="test sequences measured (default 32)")
    parser.add_argument("--jacobian-rows", type=int, default=8,
                        help="sequences whose Jacobian products are measured (default 8; 0: skip)")
    parser.add_argument("--out", help="directory for the plots and summary.txt (default RUN_DIR/diagnostics, "
                                      "or diagnose-CELL-TASK-LENGTH)")
    parser.set_defaults(func=run_diagnose)


def _untrained(args: argparse.Namespace):
    """(model, task data, title, default output directory) for --untrained."""
    import torch

    from ..data.synthetic import memory_task
    from ..tasks.memory import MemoryModel, config_for
    from .main import CommandError

    if args.cell is None:
        raise CommandError("--untrained: needs --cell srn|lstm|gru")
    digits = args.task in ("digits", "pdigits")
    if digits and args.length is not None:
        raise CommandError(f"--length: the digits are sequences of a fixed 64 pixels; got --length {args.length}")
    for name in ("hidden", "layers"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    length = None if digits else (args.length or DEFAULT_LENGTH)
    data = memory_task(args.task, length, test_size=args.batch_size)
    torch.manual_seed(args.seed)
    model = MemoryModel(config_for(data, args.cell, args.hidden, args.layers, args.forget_bias))
    title = f"untrained {args.cell}, H={args.hidden}, {args.task} lag {data.lag}"
    return model, data, title, Path(f"diagnose-{args.cell}-{args.task}-{data.lag}")


def _trained(args: argparse.Namespace):
    """(model, task data, title, default output directory) for RUN_DIR."""
    from ..data.synthetic import TASKS, memory_task
    from ..tasks.memory import MemoryModel
    from ..train import load_checkpoint
    from .main import CommandError

    if args.cell is not None or args.length is not None:
        raise CommandError("RUN_DIR: --cell and --length describe an untrained model; a run has its own")
    checkpoint = load_checkpoint(args.run_dir)
    expected = f"{MemoryModel.__module__}.{MemoryModel.__qualname__}"
    task = checkpoint.metadata.get("task")
    if checkpoint.model_class != expected or task not in TASKS:
        raise CommandError(f"RUN_DIR: {args.run_dir} holds a {checkpoint.model_class} (task {task!r}); "
                           "diagnose reads the runs of `rnnkit memory --run-dir`")
    model = MemoryModel.from_checkpoint(args.run_dir)
    data = memory_task(task, checkpoint.metadata.get("lag"), test_size=args.batch_size)
    config = model.config
    title = f"{config.cell}, H={config.hidden_size}, {task} lag {data.lag}, step {checkpoint.step}"
    return model, data, title, Path(args.run_dir) / "diagnostics"


def run_diagnose(args: argparse.Namespace) -> int:
    from ..data.synthetic import SequenceBatch
    from ..diagnostics import diagnose, write_report
    from .main import CommandError

    if (args.run_dir is None) == (not args.untrained):
        raise CommandError("expected RUN_DIR or --untrained --cell CELL (one of them)")
    if args.batch_size < 1 or args.jacobian_rows < 0:
        raise CommandError(f"--batch-size / --jacobian-rows: expected >= 1 / >= 0, got {args.batch_size} / "
                           f"{args.jacobian_rows}")
    model, data, title, out = _untrained(args) if args.untrained else _trained(args)
    probe = SequenceBatch(data.test.x[:args.batch_size], data.test.y[:args.batch_size])
    report = diagnose(model, probe, jacobian_rows=args.jacobian_rows)
    paths = write_report(report, Path(args.out) if args.out else out, title)
    print(report.summary(title))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
