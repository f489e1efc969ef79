"""The one skeleton every ``rnnkit train TASK`` command runs.

A task gives its name, its data and model flags and a ``run(args, run)`` function that reads the
data, builds the model, trains it with :meth:`Run.fit` and returns the test scores. The skeleton
adds the shared training and run flags (:mod:`rnnkit.cli.flags`), checks the device before any work,
takes the run directory (locked for the whole run; a fresh run refuses a directory that holds
another run unless ``--overwrite``), saves the resolved options as ``RUN_DIR/config.toml`` when
training starts (a run that fails on its data leaves nothing behind), and writes the scores to
``RUN_DIR/test_scores.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import CommandError
from .flags import add_run_flags, add_training_flags, train_config

SCORES = "test_scores.json"


@dataclass(frozen=True)
class TrainTask:
    """A ``rnnkit train NAME`` command.

    Attributes:
        name, help, description: the command's name and texts.
        add_flags: adds the task's data and model flags (through :func:`rnnkit.cli.flags.add`).
        run: ``run(args, run) -> scores``: trains through :meth:`Run.fit` and scores the test split.
        training: defaults of the shared training flags (``epochs``, ``batch_size``, ``lr``, ``patience``, ...).
    """

    name: str
    help: str
    description: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, "Run"], dict]
    training: dict[str, Any] = field(default_factory=dict)


def register_task(train_commands, task: TrainTask) -> argparse.ArgumentParser:
    """Adds ``rnnkit train NAME`` with the task's flags, the training flags and the run flags."""
    from .main import command

    parser = command(train_commands, task.name, help=task.help, description=task.description)
    task.add_flags(parser)
    add_training_flags(parser, **task.training)
    add_run_flags(parser, run_dir=f"runs/{task.name}")
    parser.set_defaults(func=lambda args: run_task(task, args))
    return parser


def register_predict(commands, name: str, *, help: str, description: str, func: Callable,
                     inputs: tuple[str, str, str] | None = None, batch_size: int | None = None):
    """Adds ``rnnkit NAME RUN_DIR [INPUT ...]``: a command that runs a trained model of a run directory.

    Arguments:
        inputs: ``(dest, metavar, help)`` of the texts given on the command line (default: stdin), or None.
        batch_size: the default of ``--batch-size`` (None: no such flag).
    """
    from .flags import add_inference_flags
    from .main import command

    parser = command(commands, name, help=help, description=description)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of the trained model")
    if inputs is not None:
        dest, metavar, text = inputs
        parser.add_argument(dest, nargs="*", metavar=metavar, help=text)
    add_inference_flags(parser, batch_size=batch_size)
    parser.set_defaults(func=func)
    return parser


def run_task(task: TrainTask, args: argparse.Namespace) -> int:
    """The skeleton (module docstring)."""
    device = resolve_device(args.device)
    with Run.open(args, device) as run:
        scores = task.run(args, run)
        if scores:
            print(f"scores: {run.write_scores(scores)}")
    return 0


def resolve_device(name: str | None):
    """The ``torch.device`` of ``--device`` (default: cuda if available, else cpu), checked to exist."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CommandError(f"--device: {name} asked for, but CUDA is not available here (torch "
                               f"{torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= count:
            raise CommandError(f"--device: {name} asked for, but this machine has {count} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CommandError(f"--device: {name} asked for, but MPS is not available here; use --device cpu")
    return device


def fingerprint(data: Any) -> str:
    """SHA-256 of the training data (text, or JSON-serialisable examples): resume warns when it changes."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Run:
    """One training run in its (locked) run directory.

    Attributes:
        args: the resolved options.  device: the torch device.  path: the run directory.
        directory: the :class:`rnnkit.train.RunDir`.
    """

    def __init__(self, args: argparse.Namespace, device, directory):
        self.args, self.device, self.directory = args, device, directory
        self.path = Path(directory.path)

    @classmethod
    def open(cls, args: argparse.Namespace, device) -> "Run":
        """Takes ``--run-dir`` (lock; refuse or overwrite) and writes the resolved options into it."""
        import torch

        from ..train import RunDir

        path = Path(args.run_dir)
        if path.exists() and not path.is_dir():
            raise CommandError(f"--run-dir: {path} is a file, expected a directory (new or of an earlier run)")
        resume = getattr(args, "resume", False)
        directory = RunDir.open(path, resume=resume, overwrite=args.overwrite)
        if resume and not _has_checkpoint(path):
            directory.close()
            raise CommandError(f"--resume: no checkpoint in {path} to resume from")
        torch.manual_seed(args.seed)                    # the model's initialisation: before the task builds it
        return cls(args, device, directory)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.directory.close()

    def file(self, name: str) -> Path:
        """``RUN_DIR/name``, recorded as written by rnnkit (``--overwrite`` may delete it)."""
        self.directory.record(name)
        return self.path / name

    def write_scores(self, scores: dict) -> Path:
        """Writes ``RUN_DIR/test_scores.json`` (the figures the benchmarks read) and returns its path."""
        path = self.file(SCORES)
        path.write_text(json.dumps(scores, indent=1, ensure_ascii=False), encoding="utf-8")
        return path

    def fit(self, model, train_data, dev_data, metadata: dict, *, data_hash: str, keep_best: bool = True,
            select: str = "loss", callbacks: tuple = (), param_groups: list[dict] | None = None, **config: Any):
        """Trains ``model`` with the Trainer in this run directory; returns the trainer.

        Arguments:
            metadata: what the task needs to rebuild its inputs (vocabularies, ...); saved with the checkpoints.
            data_hash: :func:`fingerprint` of the training data; on ``--resume`` a different one is
                reported (the corpus file changed since the run began).
            keep_best: keep the weights of the best dev ``select`` in ``RUN_DIR/best`` and load them at the end.
            select: what "best" means: ``loss`` (lowest) or ``accuracy`` (highest; a metric of the model's loss);
                early stopping (``--patience``) watches the same.
            callbacks: more Trainer callbacks.  param_groups: the Trainer's ``param_groups``.
            **config: TrainConfig fields the flags do not set.
        """
        from ..train import Trainer

        from .config import CONFIG_FILE, write_config

        args = self.args
        write_config(self.file(CONFIG_FILE), args, getattr(args, "argv", sys.argv[1:]))
        metadata = {**metadata, "data_sha256": data_hash}
        if getattr(args, "resume", False):
            _warn_if_data_changed(self.path, data_hash)
        best = [_keep_best(self, select)] if keep_best else []
        config.setdefault("early_stopping_metric", select)                 # --patience watches what --select keeps
        trainer = Trainer(model, train_config(args, **config), run_dir=self.directory, callbacks=[*best, *callbacks],
                          metadata=metadata, device=self.device, param_groups=param_groups)
        trainer.fit(train_data, dev_data, resume=getattr(args, "resume", False),
                    reset_optimizer=getattr(args, "reset_optimizer", False))
        if keep_best:
            best[0].restore(trainer)
        trainer.model.eval()
        return trainer


def _has_checkpoint(path: Path) -> bool:
    from ..train.checkpoint import has_checkpoint

    return has_checkpoint(path)


def _warn_if_data_changed(path: Path, data_hash: str) -> None:
    from ..train import load_checkpoint

    saved = load_checkpoint(path).metadata.get("data_sha256")
    if saved is not None and saved != data_hash:
        print(f"rnnkit: warning: the training data no longer hashes as when {path} began (sha256 {saved[:12]}… "
              f"now {data_hash[:12]}…): the corpus file changed; resuming on the new data", file=sys.stderr)


def _keep_best(run: Run, select: str = "loss"):
    """A callback that saves the model at each validation that improves the dev ``select`` (loss: lower,
    accuracy: higher) into ``RUN_DIR/best`` (while fitting), and whose ``restore(trainer)`` loads those
    weights at the end.

    Its best is the one ``best/`` holds (read back on ``--resume``), not the Trainer's
    ``RunState.best_monitored`` that early stopping watches (same sign table, ``MONITORED``): a run killed
    after saving ``best/`` and before its next checkpoint resumes with a Trainer state older than ``best/``,
    and comparing against that state would let a worse model overwrite the better one on disk."""
    from ..train import Callback, load_checkpoint, save_checkpoint
    from ..train.config import MONITORED
    from ..train.restore import BEST

    if select not in MONITORED:
        raise ValueError(f"select: expected one of {', '.join(MONITORED)}, got {select!r}")
    sign, key = MONITORED[select], "val_loss" if select == "loss" else f"val_{select}"

    class KeepBest(Callback):
        def __init__(self):
            self.best, self.fitting, self.root = float("inf"), False, run.file(BEST)
            if getattr(run.args, "resume", False) and self.root.exists():
                self.best = sign * load_checkpoint(self.root).state[key]

        def on_train_begin(self, trainer, logs):
            self.fitting = True

        def on_train_end(self, trainer, logs):
            self.fitting = False

        def on_test_end(self, trainer, logs):
            if select not in logs:
                raise ValueError(f"select: the model's validation reports no {select!r} (it reports "
                                 f"{', '.join(logs)})")
            if self.fitting and sign * logs[select] < self.best:
                self.best = sign * logs[select]
                save_checkpoint(self.root, trainer.model, metadata=trainer.metadata, keep=1,
                                state={"step": trainer.step, "epoch": trainer.epoch, "val_loss": logs["loss"],
                                       key: logs[select]})

        def restore(self, trainer):
            if self.root.exists():
                best = load_checkpoint(self.root)
                trainer.model.load_state_dict(best.weights)
                print(f"best dev {select} {best.state[key]:.4f} at step {best.state['step']}; scoring that model",
                      file=sys.stderr)

    return KeepBest()


def task_checkpoint(run_dir: str, task: str, name: str = "RUN_DIR") -> Path:
    """:func:`rnnkit.train.restore.task_checkpoint` (imported when called: the CLI starts without torch)."""
    from ..train.restore import task_checkpoint as model_source_of

    return model_source_of(run_dir, task, name)


def input_lines(texts: list[str]) -> list[str]:
    """The texts given on the command line, else the lines of stdin (blank lines kept, so the output lines up)."""
    if texts:
        return texts
    return [line.rstrip("\n") for line in sys.stdin]


def format_scores(scores: dict, keys: list[str]) -> str:
    """``name value`` pairs on one line, fractions with 4 decimals."""
    return "  ".join(f"{k} {scores[k]:.4f}" if isinstance(scores[k], float) else f"{k} {scores[k]}"
                     for k in keys if k in scores)
