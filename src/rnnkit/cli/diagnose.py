"""``rnnkit diagnose``: the gradient flow of a trained run (a memory task or a language model), or of an
untrained model. A language-model run is measured on windows of its corpus' validation split.

Writes ``summary.txt`` (gradient norm at lags 1, 10, 50, ..., Jacobian-product norms, spectral radii,
the verdict), ``gradient_by_lag.png`` and ``gradient_heatmap.png`` and prints the summary.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_LENGTH = 100


def register(commands, train_commands) -> None:
    from .flags import add, add_inference_flags, count, positive_int
    from .main import command
    from .memory import CELLS, MEMORY_TASKS

    parser = command(
        commands, "diagnose", help="measure vanishing / exploding gradients of a run or an untrained model",
        description="Measures ‖∂L_t/∂h_k‖ for every k <= t, the Jacobian products through time and the spectral "
                    "radius of the recurrent weights on a batch of the task's test data; writes the plots and "
                    "summary.txt and prints the summary with a verdict (vanishing / exploding / healthy). RUN_DIR is a "
                    "run of `rnnkit memory --run-dir` (measured on its task's test data) or of `rnnkit train lm` (on "
                    "windows of its validation split); or use --untrained --cell CELL.")
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a memory-task or language-model run directory")
    parser.add_argument("--untrained", action="store_true", help="diagnose a freshly initialised model")
    add(parser, "cell", choices=CELLS, help="with --untrained: the cell")
    parser.add_argument("--task", choices=MEMORY_TASKS, default="adding", help="with --untrained: the data")
    parser.add_argument("--lag", type=positive_int, help=f"with --untrained: the lag / sequence length of the task "
                                                         f"(default: {DEFAULT_LENGTH}; the digits have 64)")
    add(parser, "seq_len", help=f"with a language-model run: the window length (default: {DEFAULT_LENGTH})")
    add(parser, "hidden_size", 64, help="with --untrained: hidden units")
    add(parser, "layers", 1, help="with --untrained: stacked layers")
    parser.add_argument("--forget-bias", type=float, default=1.0, help="with --untrained: the LSTM's forget bias")
    add(parser, "seed", 0, help="with --untrained: the initialisation seed")
    add(parser, "batch_size", 32, help="sequences measured")
    parser.add_argument("--jacobian-rows", type=count, default=8,
                        help="sequences whose Jacobian products are measured (0: skip)")
    parser.add_argument("--out", help="directory for the plots and summary.txt (default: RUN_DIR/diagnostics, "
                                      "or diagnose-CELL-TASK-LAG)")
    add_inference_flags(parser)
    parser.set_defaults(func=run_diagnose)


def _untrained(args: argparse.Namespace):
    """(model, probe batch, title, default output directory) for --untrained."""
    import torch

    from ..data.synthetic import memory_task
    from ..tasks.memory import MemoryModel, config_for
    from .errors import CommandError

    if args.cell is None:
        raise CommandError("--untrained: needs --cell srn|lstm|gru")
    if args.seq_len is not None:
        raise CommandError("--seq-len: the window of a language-model run; --untrained takes --lag")
    digits = args.task in ("digits", "pdigits")
    if digits and args.lag is not None:
        raise CommandError(f"--lag: the digits are sequences of a fixed 64 pixels; got --lag {args.lag}")
    length = None if digits else (args.lag or DEFAULT_LENGTH)
    data = memory_task(args.task, length, test_size=args.batch_size)
    torch.manual_seed(args.seed)
    model = MemoryModel(config_for(data, args.cell, args.hidden_size, args.layers, args.forget_bias))
    title = f"untrained {args.cell}, H={args.hidden_size}, {args.task} lag {data.lag}"
    return model, _test_probe(data, args.batch_size), title, Path(f"diagnose-{args.cell}-{args.task}-{data.lag}")


def _test_probe(data, batch_size: int):
    """The first ``batch_size`` sequences of a memory task's test set."""
    from ..data.synthetic import SequenceBatch

    return SequenceBatch(data.test.x[:batch_size], data.test.y[:batch_size])


def _trained(args: argparse.Namespace):
    """(model, probe batch, title, default output directory) for RUN_DIR."""
    from ..data.synthetic import TASKS, memory_task
    from ..tasks import LanguageModel
    from ..tasks.memory import MemoryModel
    from ..train import load_checkpoint
    from .errors import CommandError

    if args.cell is not None:
        raise CommandError("RUN_DIR: --cell describes an untrained model; a run has its own")
    checkpoint = load_checkpoint(args.run_dir)
    task = checkpoint.metadata.get("task")
    if checkpoint.model_class == _class_name(LanguageModel):
        return _trained_lm(args, checkpoint)
    if checkpoint.model_class != _class_name(MemoryModel) or task not in TASKS:
        raise CommandError(f"RUN_DIR: {args.run_dir} holds a {checkpoint.model_class} (task {task!r}); "
                           "diagnose reads the runs of `rnnkit memory --run-dir` and `rnnkit train lm`")
    if args.lag is not None or args.seq_len is not None:
        raise CommandError("RUN_DIR: a memory run has its own lag (--lag and --seq-len are for --untrained and "
                           "language-model runs)")
    model = MemoryModel.from_checkpoint(args.run_dir)
    data = memory_task(task, checkpoint.metadata.get("lag"), test_size=args.batch_size)
    config = model.config
    title = f"{config.cell}, H={config.hidden_size}, {task} lag {data.lag}, step {checkpoint.step}"
    return model, _test_probe(data, args.batch_size), title, Path(args.run_dir) / "diagnostics"


def _trained_lm(args: argparse.Namespace, checkpoint):
    """A language-model run: the first ``--batch-size`` windows of ``--length`` tokens of its validation split."""
    from ..data import split_corpus
    from ..data.streams import Batch
    from ..tasks import LanguageModel
    from ..tasks.lm import checkpoint_vocabulary
    from .errors import CommandError

    if args.lag is not None:
        raise CommandError("--lag: a language-model run is measured on windows of --seq-len tokens")
    length = args.seq_len or DEFAULT_LENGTH
    if length < 2:
        raise CommandError(f"--seq-len: expected at least 2 steps, got {length}")
    if "corpus" not in checkpoint.metadata:
        raise CommandError(f"{args.run_dir}: the run does not record its corpus")
    model = LanguageModel.from_checkpoint(checkpoint)
    corpus = checkpoint.metadata["corpus"]
    ids = checkpoint_vocabulary(checkpoint).encode(split_corpus(corpus)[1])                    # (N,)
    rows = min(args.batch_size, (ids.numel() - 1) // length)
    if rows < 1:
        raise CommandError(f"--seq-len: the validation split of {corpus['name']} holds {ids.numel()} tokens, "
                           f"fewer than one window of {length} + 1")
    x = ids[:rows * length].view(rows, length)                                 # (B, T)
    y = ids[1:rows * length + 1].view(rows, length)                            # (B, T) next tokens
    config = model.config
    title = (f"language model {config.cell}, H={config.hidden_size} x {config.layers}, "
             f"{Path(corpus['name']).name} validation windows of {length}, step {checkpoint.step}")
    return model, Batch(x, y), title, Path(args.run_dir) / "diagnostics"


def _class_name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def run_diagnose(args: argparse.Namespace) -> int:
    from ..diagnostics import diagnose, write_report
    from ..train.tree import to_device
    from .errors import CommandError
    from .task import resolve_device

    if (args.run_dir is None) == (not args.untrained):
        raise CommandError("expected RUN_DIR or --untrained --cell CELL (one of them)")
    device = resolve_device(args.device)
    model, probe, title, out = _untrained(args) if args.untrained else _trained(args)
    report = diagnose(model.to(device), to_device(probe, device), jacobian_rows=args.jacobian_rows)
    paths = write_report(report, Path(args.out) if args.out else out, title)
    print(report.summary(title))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
