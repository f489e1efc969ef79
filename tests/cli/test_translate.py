"""``rnnkit train seq2seq`` and ``rnnkit translate`` end to end on a tiny pairs file written here."""
import io
import json
import random
import subprocess
import sys

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.tasks.translation import Translator

DIGITS_ZH = "零一二三四五六七八九"
DIGITS_EN = "zero one two three four five six seven eight nine".split()


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    """Tatoeba's layout: english<TAB>chinese<TAB>attribution, numbers read digit by digit."""
    rng = random.Random(0)
    lines = []
    for _ in range(120):
        digits = [rng.randrange(10) for _ in range(rng.randint(1, 3))]
        lines.append(" ".join(DIGITS_EN[d] for d in digits).capitalize() + ".\t"
                     + "".join(DIGITS_ZH[d] for d in digits) + "。\tCC-BY 2.0 (France) test")
    path = tmp_path_factory.mktemp("pairs") / "cmn.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(pairs_file, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)               # tiny matrices: one thread is fastest, above all on a busy machine
    try:
        path = tmp_path_factory.mktemp("run") / "zh-en"
        code = main(["train", "seq2seq", "--pairs", str(pairs_file), "--src-col", "1", "--tgt-col", "0",
                     "--src-level", "char", "--tgt-level", "word", "--attention", "luong-general", "--cell", "gru",
                     "--hidden-size", "16", "--embed-size", "8", "--bidirectional", "--label-smoothing", "0.1", "--epochs", "8", "--lr", "1e-2", "--batch-size", "16",
                     "--beam", "2", "--run-dir", str(path), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return path


def test_training_writes_a_checkpoint_with_vocabularies_and_test_scores(run_dir, capsys):
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert {"bleu", "chrf", "exact"} <= scores.keys() and scores["beam"] == 2 and scores["test_pairs"] == 6
    assert 0.0 <= scores["chrf"] <= 100.0
    state = json.loads(next((run_dir / "best" / "checkpoints").glob("ckpt-*/state.json")).read_text(encoding="utf-8"))
    assert state["metadata"]["src_vocab"]["level"] == "char" and "三" in state["metadata"]["src_vocab"]["tokens"]
    assert "Three" in state["metadata"]["tgt_vocab"]["tokens"] or "three" in state["metadata"]["tgt_vocab"]["tokens"]
    assert state["config"]["attention"] == "luong-general" and state["config"]["bidirectional"] is True
    assert state["config"]["label_smoothing"] == 0.1


def test_translate_prints_what_the_translator_gives(run_dir, capsys):
    assert main(["translate", str(run_dir), "三一。", "九。", "--beam", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = Translator.from_run(run_dir / "best").translate(["三一。", "九。"], beam_size=3)
    assert lines == expected and all(lines)


def test_translate_reads_stdin_one_sentence_a_line(run_dir, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("一二。\n\n五。\n"))
    assert main(["translate", str(run_dir)]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[0] and lines[2] and lines[3] == ""


def test_heatmap_writes_a_png(run_dir, tmp_path, capsys):
    path = tmp_path / "attention.png"
    assert main(["translate", str(run_dir), "三一四。", "--heatmap", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert captured.out.strip() == Translator.from_run(run_dir / "best").translate(["三一四。"])[0]
    assert "attention heatmap" in captured.err


def test_the_installed_command_translates(run_dir):
    result = subprocess.run([sys.executable, "-m", "rnnkit.cli.main", "translate", str(run_dir), "七。"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip()


def test_errors_are_clean(run_dir, pairs_file, tmp_path, capsys):
    assert main(["translate", str(run_dir), "一。", "二。", "--heatmap", str(tmp_path / "x.png")]) == 2
    assert "--heatmap: expected exactly one sentence to draw, got 2" in capsys.readouterr().err
    assert main(["translate", str(run_dir), "一。", "--beam", "0"]) == 2
    assert "--beam: expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["translate", str(tmp_path), "一。"]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--pairs", str(pairs_file), "--src-col", "3", "--run-dir", str(tmp_path)]) == 2
    assert "line 1: expected at least 4 tab-separated columns" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--pairs", str(tmp_path / "missing.txt"), "--run-dir", str(tmp_path)]) == 2
    assert "missing.txt" in capsys.readouterr().err
