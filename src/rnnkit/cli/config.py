"""Where a command's option values come from, and the resolved configuration a run directory keeps.

A value is taken, first found: from the command line; from ``--config FILE.toml``; with
``--resume``, from the run's saved ``config.toml``; else the flag's default. Every run of a train
command writes the resolved values and its command line to ``RUN_DIR/config.toml``, which
``--config`` reads back, so a run can be repeated. On ``--resume`` the model and data options
must equal the saved ones (the refusal names every changed field); training options may change,
and the command says which did.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from .flags import RUN_FLAGS, TRAINING_FLAGS
from .errors import CommandError

CONFIG_FILE = "config.toml"
# Options that say how to run, not what is trained: neither saved nor compared on resume.
_NOT_SAVED = set(RUN_FLAGS) | {"help"}


def leaf_parser(args: argparse.Namespace) -> argparse.ArgumentParser | None:
    """The (sub)parser of the command that ``args`` came from."""
    return getattr(args, "_parser", None)


def explicit_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options written on the command line (abbreviations are off)."""
    found = set()
    for token in argv:
        if token == "--":
            break
        action = parser._option_string_actions.get(token.split("=", 1)[0]) if token.startswith("--") else None
        if action is not None:
            found.add(action.dest)
    return found


def resolve(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parses ``argv`` and fills the options not given from ``--config`` and, with ``--resume``, the run's
    saved configuration; refuses a resume whose model or data options changed.

    Raises:
        CommandError: an unreadable config file, an unknown key or a bad value in it, a changed model
            option on resume.
    """
    args = parser.parse_args(argv)
    leaf = leaf_parser(args)
    if leaf is None:
        return args
    explicit = explicit_options(leaf, argv)
    saved = {}
    if getattr(args, "resume", False) and args.run_dir is not None:
        path = Path(args.run_dir) / CONFIG_FILE
        saved = read_config(path, leaf, "--resume") if path.is_file() else {}
    given = read_config(Path(args.config), leaf, "--config") if getattr(args, "config", None) else {}
    for dest, value in {**saved, **given}.items():
        if dest not in explicit:
            setattr(args, dest, value)
    missing = [a.option_strings[0] for a in leaf._actions
               if getattr(a, "required_after_config", False) and getattr(args, a.dest, None) is None]
    if missing:
        leaf.error(f"the following arguments are required: {', '.join(missing)} (on the command line or in --config)")
    if saved:
        _check_resume(args, leaf, saved)
    return args


def read_config(path: Path, parser: argparse.ArgumentParser, flag: str) -> dict[str, Any]:
    """The options of a TOML file (nested tables are flattened), each checked like its flag."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CommandError(f"{flag}: cannot read {path}: {err.strerror or err}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CommandError(f"{flag}: {path} is not valid TOML ({err})") from err
    actions = {action.dest: action for action in parser._actions if action.option_strings}
    values = {}
    for key, value in _flatten(data).items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest in ("config", "help"):
            known = ", ".join(sorted(d for d in actions if d not in ("config", "help")))
            raise CommandError(f"{flag}: {path}: unknown option {key!r} for this command (known: {known})")
        values[dest] = _coerce(action, value, f"{flag}: {path}: {key}")
    return values


def _flatten(data: dict) -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        flat.update(_flatten(value) if isinstance(value, dict) else {key: value})
    return flat


def _coerce(action: argparse.Action, value: Any, where: str) -> Any:
    """A TOML value checked as the command line would check it."""
    if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise CommandError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(value, (dict, list)) or isinstance(value, bool):
        raise CommandError(f"{where}: expected a single value, got {value!r}")
    if action.type is not None:
        try:
            value = action.type(str(value))
        except argparse.ArgumentTypeError as err:
            raise CommandError(f"{where}: {err}") from err
    if action.choices is not None and value not in action.choices:
        raise CommandError(f"{where}: expected one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value


def saved_options(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved options of a train command worth saving (set, and not how-to-run flags)."""
    leaf = leaf_parser(args)
    dests = [a.dest for a in leaf._actions if a.option_strings and a.dest not in _NOT_SAVED]
    return {dest: getattr(args, dest) for dest in dests if getattr(args, dest, None) is not None}


def write_config(path: Path, args: argparse.Namespace, argv: list[str]) -> Path:
    """Writes ``RUN_DIR/config.toml`` (``path``): the command line as a comment, then every resolved option."""
    from .._version import __version__

    lines = [f"# rnnkit {__version__}: rnnkit {shlex.join(argv)}",
             "# the resolved options of this run; `--config` reads this file back", ""]
    lines += [f"{dest} = {_toml(value)}" for dest, value in saved_options(args).items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else f"{'-' if value < 0 else ''}inf")
    return json.dumps(str(value), ensure_ascii=False)          # a TOML basic string


def _check_resume(args: argparse.Namespace, parser: argparse.ArgumentParser, saved: dict[str, Any]) -> None:
    """Refuses changed model/data options; tells which training options changed."""
    options = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    current = saved_options(args)
    changed = {dest: (saved.get(dest), current.get(dest)) for dest in set(saved) | set(current)
               if saved.get(dest) != current.get(dest)}
    fixed = sorted(dest for dest in changed if dest not in TRAINING_FLAGS)
    if fixed:
        details = ", ".join(f"{options[d]} {changed[d][0]} -> {changed[d][1]}" for d in fixed)
        raise CommandError(f"--resume: model and data options cannot change on resume: {details} "
                           f"(the run in {args.run_dir} keeps its own; drop these flags, or start a new run)")
    training = sorted(dest for dest in changed if dest in TRAINING_FLAGS)
    if training:
        details = ", ".join(f"{options[d]} {changed[d][0]} -> {changed[d][1]}" for d in training)
        print(f"resuming with changed training options: {details}", file=sys.stderr)
