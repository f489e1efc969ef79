"""Entry point of the ``rnnkit`` command.

Each command module in ``COMMAND_MODULES`` has ``register(commands, train_commands)``: it adds
its subcommands to ``rnnkit <command>`` and ``rnnkit train <task>`` and sets ``func`` on
its parsers. Modules import their heavy dependencies inside ``func`` so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ["rnnkit.cli.gradcheck", "rnnkit.cli.lm", "rnnkit.cli.memory", "rnnkit.cli.diagnose", "rnnkit.cli.tagger", "rnnkit.cli.classifier", "rnnkit.cli.forecaster", "rnnkit.cli.translate"]


class CommandError(Exception):
    """A user-facing error: printed as ``rnnkit: error: ...`` with exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks: train, generate, check.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a task model (see `rnnkit train -h`)")
    train_commands = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, train_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CommandError, ValueError, FileNotFoundError) as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
