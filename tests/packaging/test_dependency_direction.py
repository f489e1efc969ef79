"""The dependency direction of docs/architecture.md, checked on every module's imports (lazy ones too).

    cli, serve -> keras, tasks, train, diagnostics, interop -> nn, data -> recurrent, structured -> kernels -> cells

A package may import its own layer's peers only where the table below says so; ``reference/`` and
``_checks.py`` import nothing of rnnkit, and only the gradient check and the CLI import ``reference/``.
``from rnnkit import X`` (the package root's public names) is allowed everywhere but in those two.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "rnnkit"

LAYERS = [("cells",), ("kernels",), ("recurrent", "structured"), ("nn", "data"),
          ("keras", "tasks", "train", "diagnostics", "interop"), ("cli", "serve")]
# Peers on one layer that one of them may import (the arrow is one way).
PEERS = {("cli", "serve"), ("tasks", "train"), ("keras", "train"), ("diagnostics", "train"), ("keras", "interop"),
         ("tasks", "diagnostics")}
ALONE = {"reference", "_checks"}          # import nothing of rnnkit
ANYONE = {"_checks", "_version", ROOT := "the package root"}       # anyone (but ALONE) may import these
REFERENCE_USERS = ("diagnostics/gradcheck", "cli/")                  # the bridges to the NumPy reference


def layer(package: str) -> int | None:
    return next((n for n, names in enumerate(LAYERS) if package in names), None)


def imported_packages(path: Path) -> set[str]:
    """The top-level rnnkit packages a module imports (absolute or relative, at any depth of the file)."""
    module = path.relative_to(SOURCE.parent).with_suffix("").parts          # ("rnnkit", "cli", "lm")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module[:len(module) - node.level]              # __init__ counts as a module part
                parts = list(base) + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts == ["rnnkit"]:                                          # from .. import cli, GRU
                found |= {alias.name if (SOURCE / alias.name).is_dir() or (SOURCE / f"{alias.name}.py").is_file()
                          else ROOT for alias in node.names}
            elif parts[0] == "rnnkit":
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rnnkit" and len(parts) > 1:
                    found.add(parts[1])
    return found


MODULES = sorted(p for p in SOURCE.rglob("*.py") if len(p.relative_to(SOURCE).parts) > 1
                 or p.stem in ALONE)


def may_import(own: str, package: str, name: str) -> bool:
    """Whether module ``name`` (a path under rnnkit/) of package ``own`` may import ``package``."""
    if own in ALONE:
        return False
    if package in ANYONE:
        return True
    if package == "reference":
        return name.startswith(REFERENCE_USERS)
    if layer(package) is None:
        return False
    return layer(package) < layer(own) or (layer(package) == layer(own) and (own, package) in PEERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_point_down(path):
    name = path.relative_to(SOURCE).as_posix()
    own = path.relative_to(SOURCE).parts[0].removesuffix(".py")
    assert own in ALONE or layer(own) is not None, f"{own}/ is on no layer of docs/architecture.md"
    wrong = sorted(package for package in imported_packages(path) - {own} if not may_import(own, package, name))
    assert not wrong, f"{name} imports {wrong} against the dependency direction"


def test_the_checker_sees_relative_lazy_and_root_imports():
    """The walk finds imports inside functions of nested modules, relative ones and the package root's."""
    assert {"tasks", "data", "train"} <= imported_packages(SOURCE / "serve" / "views" / "lm.py") | \
        imported_packages(SOURCE / "serve" / "views" / "tagger.py")
    assert ROOT in imported_packages(SOURCE / "keras" / "layers" / "rnn.py")                 # from ... import RNN
    assert "cli" not in imported_packages(SOURCE / "serve" / "runs.py")
