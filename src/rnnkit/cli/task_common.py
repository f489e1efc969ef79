"""What ``rnnkit train tagger|classifier|forecaster`` share: training flags, the best-model
checkpoint, reading inputs from the command line or stdin, the score report."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

BEST = "best"


def add_training_options(parser: argparse.ArgumentParser, *, epochs: int, batch_size: int, lr: float,
                         patience: int | None = 3) -> None:
    """The flags every task's ``train`` command takes (``--run-dir``, epochs, optimiser, limits)."""
    parser.add_argument("--run-dir", required=True, help="where checkpoints, logs, scores and plots go")
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=epochs)
    group.add_argument("--batch-size", type=int, default=batch_size)
    group.add_argument("--optimizer", default="adam", help="adam, adamw, sgd, rmsprop, adagrad")
    group.add_argument("--lr", type=float, default=lr)
    group.add_argument("--weight-decay", type=float, default=0.0)
    group.add_argument("--clip-norm", type=float, default=5.0)
    group.add_argument("--schedule", default="constant", help="constant, step, cosine, plateau")
    group.add_argument("--patience", type=int, default=patience,
                       help="stop after this many validations without a better dev loss")
    group.add_argument("--max-time", type=float, help="stop after this many seconds of training")
    group.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    group.add_argument("--eval-every", type=int, help="optimizer steps between validations (default: each epoch)")
    group.add_argument("--seed", type=int, default=0, help="seeds the model and the batch order (not the split)")
    group.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --run-dir (same flags; raise --max-time or --epochs "
                            "to go on)")
    group.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    group.add_argument("--quiet", action="store_true", help="no progress lines")


def train_config(args: argparse.Namespace):
    """The :class:`~rnnkit.train.TrainConfig` of the flags."""
    from ..train import TrainConfig

    return TrainConfig(optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip_norm,
                       schedule=args.schedule, epochs=args.epochs, max_steps=args.max_steps, max_time=args.max_time,
                       eval_every=args.eval_every, early_stopping_patience=args.patience, seed=args.seed,
                       progress=not args.quiet, log_every=50)


def check_limit(args: argparse.Namespace) -> None:
    """Validates ``--limit`` (the first N training examples only, for quick runs)."""
    from .main import CommandError

    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise CommandError(f"--limit: expected a positive number of training examples, got {args.limit}")


def fit_best(model, args: argparse.Namespace, train_data, dev_data, metadata: dict) -> Any:
    """Trains with the Trainer, keeping the weights of the best dev loss in ``RUN_DIR/best``;
    returns the trainer with those weights loaded into the model."""
    import torch

    from ..train import Callback, Trainer, load_checkpoint, save_checkpoint

    run_dir = Path(args.run_dir)

    class KeepBest(Callback):
        """Saves the model at each validation that lowers the dev loss (while fitting only)."""

        def __init__(self):
            self.best, self.fitting = float("inf"), False
            if args.resume and (run_dir / BEST).exists():
                self.best = load_checkpoint(run_dir / BEST).state["val_loss"]

        def on_train_begin(self, trainer, logs):
            self.fitting = True
            if not args.resume:
                shutil.rmtree(run_dir / BEST, ignore_errors=True)

        def on_train_end(self, trainer, logs):
            self.fitting = False

        def on_test_end(self, trainer, logs):
            if self.fitting and logs["loss"] < self.best:
                self.best = logs["loss"]
                save_checkpoint(run_dir / BEST, trainer.model, metadata=metadata,
                                state={"step": trainer.step, "epoch": trainer.epoch, "val_loss": self.best}, keep=1)

    torch.manual_seed(args.seed)
    trainer = Trainer(model, train_config(args), run_dir=run_dir, callbacks=[KeepBest()], metadata=metadata,
                      device=args.device)
    trainer.fit(train_data, dev_data, resume=args.resume)
    if (run_dir / BEST).exists():
        best = load_checkpoint(run_dir / BEST)
        trainer.model.load_state_dict(best.weights)
        print(f"best dev loss {best.state['val_loss']:.4f} at step {best.state['step']}; "
              f"scoring that model", file=sys.stderr)
    trainer.model.eval()
    return trainer


def task_checkpoint(run_dir: str, task: str):
    """The checkpoint to predict with (``RUN_DIR/best`` if training kept one, else the run's newest),
    checked to hold a model of ``task``."""
    from ..train import load_checkpoint
    from .main import CommandError

    path = Path(run_dir)
    if not path.is_dir():
        raise CommandError(f"RUN_DIR: expected the directory of a training run, got {run_dir!r} (no such directory)")
    checkpoint = load_checkpoint(path / BEST if (path / BEST).is_dir() else path)
    found = checkpoint.metadata.get("task")
    if found != task:
        raise CommandError(f"RUN_DIR: {run_dir} holds a {found!r} model, expected a {task}")
    return checkpoint


def input_lines(texts: list[str]) -> list[str]:
    """The texts given on the command line, else the lines of stdin (blank lines kept, so the output lines up)."""
    if texts:
        return texts
    return [line.rstrip("\n") for line in sys.stdin]


def write_scores(run_dir: str, name: str, scores: dict) -> Path:
    """Writes ``RUN_DIR/NAME.json`` (the figures the benchmarks read) and returns its path."""
    path = Path(run_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scores, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def format_scores(scores: dict, keys: list[str]) -> str:
    """``name value`` pairs on one line, fractions with 4 decimals."""
    return "  ".join(f"{k} {scores[k]:.4f}" if isinstance(scores[k], float) else f"{k} {scores[k]}"
                     for k in keys if k in scores)
