"""The documentation: it builds without warnings, stays inside the repository, and its commands run."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"


def test_docs_build_strict(tmp_path):
    """mkdocs + mkdocstrings: every page and the API reference from the docstrings, warnings are errors."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "layers" / "index.html").is_file()


def test_docs_point_only_inside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "src").rglob("*.py"))]
    outside = re.compile(r"\.\./shared|DESIGN\.md|\]\(\.\./")
    found = [f"{page.relative_to(ROOT)}:{n}" for page in pages
             for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert found == []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} links to a missing {target}"


def tutorial_commands():
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [shlex.split(line)[1:] for block in blocks for line in block.splitlines() if line.startswith("rnnkit ")]


def test_every_tutorial_command_parses():
    commands = tutorial_commands()
    assert len(commands) >= 15
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)                      # a wrong flag or value exits: the test fails


@pytest.mark.parametrize("argv", [argv for argv in tutorial_commands() if argv[0] in ("gradcheck", "diagnose")],
                         ids=" ".join)
def test_quick_tutorial_commands_run(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PASS" in out if argv[0] == "gradcheck" else "verdict:" in out
