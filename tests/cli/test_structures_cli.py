"""``rnnkit train treesent`` / ``label-tree`` and ``rnnkit train ggnn`` / ``answer`` end to end on data the tests make."""
from __future__ import annotations

import io
import json
import random
import re

import pytest

from rnnkit.cli.main import main

WORDS = {"good": 4, "fine": 3, "film": 2, "the": 2, "plot": 2, "dull": 1, "bad": 0}


pytestmark = pytest.mark.usefixtures("one_thread")


def _sentiment_tree(rng: random.Random, size: int) -> str:
    """A random binary tree over ``size`` words; a node's class is the rounded mean of its words' classes."""
    if size == 1:
        word = rng.choice(sorted(WORDS))
        return f"({WORDS[word]} {word})", [WORDS[word]]
    left, values_left = _sentiment_tree(rng, rng.randint(1, size - 1))
    right, values_right = _sentiment_tree(rng, size - len(values_left))
    values = values_left + values_right
    return f"({round(sum(values) / len(values))} {left} {right})", values


@pytest.fixture(scope="module")
def treebank(tmp_path_factory):
    root = tmp_path_factory.mktemp("treebank")
    rng = random.Random(0)
    for split, count in (("train", 60), ("dev", 12), ("test", 12)):
        lines = [_sentiment_tree(rng, rng.randint(1, 5))[0] for _ in range(count)]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tree_run(treebank, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("treesent") / "run"
    assert main(["train", "treesent", "--data", str(treebank), "--run-dir", str(run_dir), "--embed-size", "8",
                 "--hidden-size", "8", "--dropout", "0", "--epochs", "8", "--optimizer", "adam", "--lr", "0.03",
                 "--batch-size", "10", "--quiet"]) == 0
    return run_dir


def test_train_treesent_scores_the_test_split(tree_run):
    scores = json.loads((tree_run / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["granularity"] == "fine" and scores["trees"] == 12 and scores["cell"] == "nary-tree-lstm"
    assert scores["node_accuracy"] > 0.5 and 0.0 <= scores["binary_root_accuracy"] <= 1.0
    assert (tree_run / "best").is_dir()


def test_label_tree_prints_every_node_labelled(tree_run, capsys, monkeypatch):
    assert main(["label-tree", str(tree_run), "(0 (0 bad) (2 (2 the) (2 plot)))", "good film"]) == 0
    tree, sentence = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\(\d \(\d bad\) \(\d \(\d the\) \(\d plot\)\)\)", tree), tree
    assert re.fullmatch(r"\(\d \(\d good\) \(\d film\)\)", sentence), sentence
    monkeypatch.setattr("sys.stdin", io.StringIO("((the film) good)\n\nbad\n"))
    assert main(["label-tree", str(tree_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\(\d \(\d \(\d the\) \(\d film\)\) \(\d good\)\)", lines[0]) and lines[1] == ""
    assert re.fullmatch(r"\(\d bad\)", lines[2])


@pytest.mark.parametrize("cell", ["tree-lstm", "recursive"])
def test_other_cells_and_binary_sentiment(treebank, tmp_path, cell):
    run_dir = tmp_path / "run"
    assert main(["train", "treesent", "--data", str(treebank), "--run-dir", str(run_dir), "--cell", cell,
                 "--granularity", "binary", "--root-only", "--embed-size", "4", "--hidden-size", "4", "--epochs", "1",
                 "--quiet"]) == 0
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["granularity"] == "binary" and "binary_root_accuracy" not in scores
    assert scores["trees"] == sum(not line.startswith("(2 ") for line in
                                  (treebank / "test.txt").read_text(encoding="utf-8").splitlines())


def test_treesent_errors_are_one_line(tmp_path, tree_run, capsys):
    assert main(["train", "treesent", "--data", str(tmp_path / "none"), "--run-dir", str(tmp_path / "r")]) == 2
    assert "rnnkit: error: " in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "bad" / f"{split}.txt").write_text("(2 (2 a) (9 b))\n", encoding="utf-8")
    assert main(["train", "treesent", "--data", str(tmp_path / "bad"), "--run-dir", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.txt: tree 1: node label '9'" in err
    assert main(["label-tree", str(tree_run), "((a b)"]) == 2
    assert "rnnkit: error: line 1: tree: 1 bracket(s) left open" in capsys.readouterr().err


def _babi_fold(root, stories: int, seed: int) -> None:
    """Task 15 in miniature: X is S (type 1), S has_fear T (type 2); 'what does X fear?' -> T."""
    rng = random.Random(seed)
    for split in ("train", "test"):
        blocks = []
        for _ in range(stories):
            nodes = rng.sample(range(1, 9), 8)
            species, animals = nodes[:4], nodes[4:]
            fears = {s: rng.choice([t for t in species if t != s]) for s in species}
            kinds = {a: rng.choice(species) for a in animals}
            lines = [f"{a} 1 {kinds[a]}" for a in animals] + [f"{s} 2 {fears[s]}" for s in species]
            rng.shuffle(lines)
            asked = rng.choice(animals)
            blocks.append("\n".join(lines + [f"? 1 {asked} {fears[kinds[asked]]}"]))
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "15_graphs.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    (root / "train" / "15_node_ids.txt").write_text("".join(f"{c}={i}\n" for i, c in enumerate("ABCDEFGH", 1)))


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("babi")
    _babi_fold(root / "processed_1", 110, seed=0)
    run_dir = root / "run"
    assert main(["train", "ggnn", "--babi", str(root / "processed_1"), "--task", "15", "--train-stories", "60",
                 "--epochs", "15", "--run-dir", str(run_dir), "--quiet"]) == 0
    return run_dir


def test_train_ggnn_answers_the_test_questions(graph_run):
    scores = json.loads((graph_run / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["task"] == 15 and scores["train_stories"] == 60 and scores["questions"] == 110
    assert scores["accuracy"] > 0.9


def test_answer_prints_the_answer_node(graph_run, capsys, monkeypatch, tmp_path):
    story = "1 1 5\n5 2 6\n6 2 7\n2 1 6\n7 2 5\n8 2 5\n3 1 8\n4 1 7\n? 1 1\n? 1 2 7\n"
    path = tmp_path / "story.txt"
    path.write_text(story, encoding="utf-8")
    assert main(["answer", str(graph_run), str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["? 1 1 -> 6 (F)", "? 1 2 -> 7 (G)"]
    monkeypatch.setattr("sys.stdin", io.StringIO(story))
    assert main(["answer", str(graph_run)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "? 1 1 -> 6 (F)"
    path.write_text("1 1\n", encoding="utf-8")
    assert main(["answer", str(graph_run), str(path)]) == 2
    assert f"rnnkit: error: {path}:1: expected 'SOURCE TYPE TARGET'" in capsys.readouterr().err


def test_ggnn_flag_errors(tmp_path, capsys):
    assert main(["train", "ggnn", "--task", "15", "--run-dir", str(tmp_path / "r")]) == 2
    assert "--babi" in capsys.readouterr().err
    _babi_fold(tmp_path / "fold", 60, seed=1)
    assert main(["train", "ggnn", "--babi", str(tmp_path / "fold"), "--task", "15", "--question-type", "2",
                 "--run-dir", str(tmp_path / "r")]) == 2
    assert "rnnkit: error: --question-type: task 15 has question types 1..1" in capsys.readouterr().err
    assert main(["train", "ggnn", "--babi", str(tmp_path / "fold"), "--task", "18", "--run-dir", str(tmp_path / "r")]) == 2
    assert "no train/18_graphs.txt" in capsys.readouterr().err


def test_cli_names_match_the_library():
    from rnnkit.cli import ggnn, treesent
    from rnnkit.data.babi import TASKS
    from rnnkit.tasks import treesent as task

    assert treesent.CELLS == tuple(task.CELLS) and ggnn.BABI_TASKS == tuple(sorted(TASKS))
