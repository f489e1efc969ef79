"""``rnnkit gradcheck --cell tree-lstm|nary-tree-lstm|recursive|ggnn``: the max relative error, per tensor."""
from __future__ import annotations

import pytest

from rnnkit.cli.main import main


@pytest.mark.parametrize("cell, tensors", [
    ("tree-lstm", ["h", "c", "weight_hh", "x"]),
    ("nary-tree-lstm", ["h", "c", "weight_hh", "x"]),
    ("recursive", ["h", "weight_hh", "x"]),
    ("ggnn", ["h", "weight_in", "weight_out", "gru.weight_ih", "annotation"]),
])
def test_each_structured_cell_reports_and_passes(cell, tensors, capsys):
    assert main(["gradcheck", "--cell", cell]) == 0
    out = capsys.readouterr().out
    assert f"{cell}" in out and "max relative error" in out and out.strip().endswith("PASS")
    for name in tensors:
        assert f"  {name} " in out
    if cell != "ggnn":
        assert "[schedule]" in out and "[per-node]" in out


def test_options_reach_the_structured_cells(capsys):
    assert main(["gradcheck", "--cell", "recursive", "--nonlinearity", "relu", "--no-bias", "--path", "loop"]) == 0
    out = capsys.readouterr().out
    assert "recursive bias=False nonlinearity=relu [per-node]" in out and "bias_ih" not in out
    assert main(["gradcheck", "--cell", "ggnn", "--reset-before"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--cell", "tree-lstm", "--peephole"], "--cell tree-lstm does not take peephole"),
    (["--cell", "ggnn", "--lengths"], "--cell ggnn does not take lengths"),
    (["--cell", "nary-tree-lstm", "--bidirectional"], "--cell nary-tree-lstm does not take bidirectional"),
])
def test_chain_options_are_refused(argv, message, capsys):
    assert main(["gradcheck", *argv]) == 2
    assert f"rnnkit: error: {message}" in capsys.readouterr().err


def test_all_includes_the_structured_cells(capsys, monkeypatch):
    import rnnkit.diagnostics as diagnostics

    monkeypatch.setattr(diagnostics, "VARIANTS", {"lstm": ("lstm", {})})     # the chain variants: tested elsewhere
    assert main(["gradcheck", "--all"]) == 0
    out = capsys.readouterr().out
    for label in ("tree-lstm [schedule]", "nary-tree-lstm [per-node]", "recursive [schedule]", "ggnn: max"):
        assert label in out
