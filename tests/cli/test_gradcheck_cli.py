"""``rnnkit gradcheck`` end to end: the installed command, every variant, clean errors."""
import subprocess
import sys

from rnnkit.cli.main import main


def test_gradcheck_all_variants_pass(capsys):
    assert main(["gradcheck", "--all", "--lengths"]) == 0
    out = capsys.readouterr().out
    assert "lstm-everything [auto]: max relative error" in out and "lstm-everything [loop]" in out
    assert "FAIL" not in out
    assert out.strip().endswith("PASS")


def test_gradcheck_prints_every_parameter(capsys):
    assert main(["gradcheck", "--cell", "lstm", "--peephole", "--layer-norm", "--proj-size", "2",
                 "--bidirectional", "--lengths"]) == 0
    out = capsys.readouterr().out
    for name in ("fwd.weight_ci", "bwd.ln_cell_bias", "fwd.weight_hr", "bwd.c0", "x"):
        assert f"  {name} " in out


def test_gradcheck_textbook_language_model(capsys):
    assert main(["gradcheck", "--textbook"]) == 0
    assert "  V " in capsys.readouterr().out


def test_gradcheck_rejects_an_option_the_cell_lacks(capsys):
    assert main(["gradcheck", "--cell", "gru", "--peephole"]) == 2
    assert "rnnkit: error: --cell gru does not take peephole" in capsys.readouterr().err


def test_installed_command_runs():
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli.main", "gradcheck", "--cell", "gru",
                           "--reset-before", "--layer-norm", "--recurrent-dropout", "0.3", "--lengths"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ln_hh_weight" in done.stdout and done.stdout.strip().endswith("PASS")
