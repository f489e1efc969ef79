"""``rnnkit train handwriting``, ``rnnkit write`` and ``rnnkit recognize`` end to end on strokes the test writes."""
import json

import numpy as np
import pytest

from rnnkit.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["--hidden-size", "8", "--layers", "1", "--embed-size", "4", "--batch-size", "8", "--max-steps", "6",
        "--spacing", "0.3", "--quiet"]
SHAPES = {"一": [[[0, 0], [10, 0]]], "丨": [[[0, 0], [0, 10]]], "口": [[[0, 0], [10, 0], [10, 10]], [[0, 10], [0, 0]]],
          "人": [[[5, 0], [0, 10]], [[5, 3], [10, 10]]]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three slightly different drawings of each shape, as JSON lines."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("strokes") / "shapes.jsonl"
    lines = [json.dumps({"label": label, "strokes": [(np.array(s) + rng.normal(0, 0.3, (len(s), 2))).tolist()
                                                     for s in strokes]}, ensure_ascii=False)
             for label, strokes in SHAPES.items() for _ in range(3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def writer(corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("writer")
    assert main(["train", "handwriting", "--corpus", str(corpus), "--mixtures", "2", "--run-dir", str(run_dir),
                 *TINY]) == 0
    return run_dir


@pytest.fixture(scope="module")
def recognizer(corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("recognizer")
    assert main(["train", "handwriting", "--corpus", str(corpus), "--model", "recognizer", "--run-dir", str(run_dir),
                 *TINY]) == 0
    return run_dir


def test_training_a_writer_scores_nats_per_point_and_draws_samples(writer):
    scores = json.loads((writer / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["model"] == "writer" and scores["labels"] == 4 and scores["drawings"] == 12
    assert np.isfinite(scores["loss"]) and scores["loss"] == pytest.approx(scores["offset_nll"] + scores["pen_nll"])
    assert (writer / "samples.png").is_file() and (writer / "best").is_dir()


def test_write_prints_json_strokes_that_recognize_reads_back(writer, recognizer, tmp_path, capsys):
    capsys.readouterr()
    assert main(["write", str(writer), "口", "一丨 人", "--samples", "2", "--length", "12"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["口", "口", "一丨 人", "一丨 人"]
    assert all(len(p) == 2 for r in records for s in r["strokes"] for p in s)
    (tmp_path / "mine.json").write_text(json.dumps(records[0], ensure_ascii=False), encoding="utf-8")
    assert main(["recognize", str(recognizer), str(tmp_path / "mine.json"), "--candidates", "3"]) == 0
    path, best, probability, others = capsys.readouterr().out.rstrip("\n").split("\t")
    assert path.endswith("mine.json") and best in SHAPES and 0 < float(probability) <= 1
    assert len(others.split("  ")) == 2


def test_write_files_in_every_format(writer, tmp_path, capsys):
    from PIL import Image

    for name in ("yong.png", "yong.svg", "yong.gif", "yong.json"):
        assert main(["write", str(writer), "口", "--out", str(tmp_path / name), "--temperature", "0.3",
                     "--length", "10"]) == 0
        assert (tmp_path / name).stat().st_size > 0
    assert main(["write", str(writer), "一口", "--samples", "2", "--out", str(tmp_path / "two.png"),
                 "--length", "10"]) == 0
    with Image.open(tmp_path / "two-2.png") as image:
        assert image.size == (512, 256)                                      # two characters side by side
    assert main(["recognize", str(writer), str(tmp_path / "yong.svg")]) == 2
    assert "holds a 'handwriting' model, expected a handwriting-recognizer" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["X"], "TEXT: the model cannot write 'X'"),
    ([], "TEXT: expected the characters to write"),
    (["--free"], "--free: this writer writes given characters"),
])
def test_write_refuses_what_the_model_cannot_write(writer, capsys, argv, message):
    assert main(["write", str(writer), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: ") and message in err and len(err.splitlines()) == 1


def test_recognize_names_a_malformed_file_in_one_line(recognizer, tmp_path, capsys):
    bad_json, bad_svg = tmp_path / "bad.json", tmp_path / "bad.svg"
    bad_json.write_text('{"strokes": [[[0, 0], [1]]]}', encoding="utf-8")
    bad_svg.write_text('<!DOCTYPE svg [<!ENTITY a "x">]><svg>&a;</svg>', encoding="utf-8")
    for path, message in ((bad_json, "stroke 1"), (bad_svg, "entities")):
        assert main(["recognize", str(recognizer), str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rnnkit: error: {path}") and message in err and len(err.splitlines()) == 1


def test_a_corpus_that_is_not_there_or_lacks_the_characters(tmp_path, corpus, capsys):
    assert main(["train", "handwriting", "--corpus", str(tmp_path / "none.jsonl"), "--run-dir", str(tmp_path / "a"),
                 *TINY]) == 2
    assert "--corpus: expected kanjivg or hershey or a stroke file or folder" in capsys.readouterr().err
    assert main(["train", "handwriting", "--corpus", str(corpus), "--chars", "永", "--run-dir", str(tmp_path / "b"),
                 *TINY]) == 2
    assert "--chars:" in capsys.readouterr().err


def test_a_components_writer_trains_and_writes(corpus, tmp_path, capsys):
    run_dir = tmp_path / "components"
    assert main(["train", "handwriting", "--corpus", str(corpus), "--conditional", "components", "--mixtures", "2",
                 "--run-dir", str(run_dir), *TINY]) == 0
    capsys.readouterr()
    assert main(["write", str(run_dir), "人口", "--length", "8"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "人口"
    assert main(["write", str(run_dir), "林"]) == 2
    assert "does not know the components of '林'" in capsys.readouterr().err


def test_the_documented_commands_parse():
    import re
    import shlex
    from pathlib import Path

    from rnnkit.cli.main import build_parser

    page = Path(__file__).resolve().parents[2] / "docs" / "handwriting.md"
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    commands = [shlex.split(line.split("#")[0])[1:] for block in blocks for line in block.splitlines()
                if line.startswith("rnnkit ")]
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)
