"""Entry point of the ``rnnkit`` command.

Each command module in ``COMMAND_MODULES`` has ``register(commands, train_commands)``: it adds its
subcommands to ``rnnkit <command>`` and ``rnnkit train <task>`` (through :func:`command`) and sets
``func`` on their parsers. Registering imports no torch (the modules import their heavy
dependencies inside ``func``), so ``rnnkit --help`` and ``rnnkit --version`` answer at once.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from typing import Iterator

from .._version import __version__
from .config import resolve
from .errors import CommandError
from .flags import HelpFormatter

COMMAND_MODULES = ["rnnkit.cli.lm", "rnnkit.cli.tagger", "rnnkit.cli.classifier", "rnnkit.cli.forecaster",
                   "rnnkit.cli.translate", "rnnkit.cli.memory", "rnnkit.cli.diagnose", "rnnkit.cli.gradcheck",
                   "rnnkit.cli.chatbot",
                   "rnnkit.cli.serve",
                   "rnnkit.cli.handwriting",
                   "rnnkit.cli.treesent", "rnnkit.cli.ggnn",
                   "rnnkit.cli.asr",
                   "rnnkit.cli.captioner"]

__all__ = ["CommandError", "build_parser", "command", "main"]


def command(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser with the shared help formatter, no abbreviated options, and a link back to
    itself (``args._parser``) for :func:`rnnkit.cli.config.resolve`."""
    parser = subparsers.add_parser(name, formatter_class=HelpFormatter, allow_abbrev=False, **kwargs)
    parser.set_defaults(_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks: train, generate, check.",
                                     formatter_class=HelpFormatter, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a task model (see `rnnkit train -h`)",
                                description="Trains a task model in a run directory.", formatter_class=HelpFormatter)
    train_commands = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, train_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs ``rnnkit ARGV``; returns the exit status (2 and one line on stderr for a user error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        try:
            args = resolve(parser, argv)
        except SystemExit as done:                  # --help, --version, or a flag argparse refused
            return done.code if isinstance(done.code, int) else 0
        args.argv = argv
        with _one_line_warnings(), _threads(getattr(args, "threads", None), hasattr(args, "threads")):
            return int(args.func(args) or 0)
    except (CommandError, ValueError, OSError) as err:
        print(f"rnnkit: error: {_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


def _message(err: BaseException) -> str:
    """The error's text; a system error as ``PATH: reason``."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err) or type(err).__name__


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Prints warnings as ``rnnkit: warning: ...`` (one line, no source excerpt) while a command runs."""
    original = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest, **kw: f"rnnkit: warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = original


def default_threads() -> int:
    """1 intra-op thread on machines with up to 2 cores (a second thread on a busy 2-core machine made
    training several times slower), else half the cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1 if cores <= 2 else cores // 2


@contextlib.contextmanager
def _threads(requested: int | None, runs_model: bool) -> Iterator[None]:
    """Sets torch's intra-op threads for a command that runs a model, and restores them after."""
    if not runs_model:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(requested or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    sys.exit(main())
