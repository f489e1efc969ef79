"""bAbI graph files: stories, questions, 0-based ids, name maps and errors naming the file and line."""
from __future__ import annotations

import pytest

from rnnkit.data import babi

STORY = "1 1 2\n3 1 4\n4 2 5\n? 1 1 5\n? 1 3 5\n\n2 1 1\n? 1 2 1\n"


def test_stories_by_hand():
    stories = babi.parse_stories(STORY, arguments=1, answers=1, answer_is_node=True)
    assert len(stories) == 2
    first = stories[0]
    assert first.graph.num_nodes == 5 and first.graph.edges.tolist() == [[0, 0, 1], [2, 0, 3], [3, 1, 4]]
    assert first.questions == (babi.Question(1, (0,), (4,)), babi.Question(1, (2,), (4,)))
    assert stories[1].graph.num_nodes == 2 and stories[1].questions[0].answer == (0,)


def test_label_answers_do_not_count_as_nodes_and_answers_may_be_left_out():
    (story,) = babi.parse_stories("1 1 2\n? 1 1 2 2\n", arguments=2, answers=1, answer_is_node=False)
    assert story.graph.num_nodes == 2 and story.questions[0] == babi.Question(1, (0, 1), (1,))
    (story,) = babi.parse_stories("1 1 2\n? 1 1 3\n", arguments=2, answers=1, answer_is_node=False,
                                  require_answers=False)
    assert story.graph.num_nodes == 3 and story.questions[0].answer == ()


@pytest.mark.parametrize("text, message", [
    ("1 1\n", "stories:1: expected 'SOURCE TYPE TARGET'"),
    ("1 1 2\n1 x 2\n", "stories:2: expected 'SOURCE TYPE TARGET'"),
    ("1 0 2\n", "with ids in 1..1048576"),
    ("1 1 2\n? 1 1\n", "stories:2: expected '\\? TYPE ARGUMENT ANSWER'"),
    ("1 1 2\n? 1 1 2 3\n", "stories:2"),
    ("\n\n", "stories: no story"),
])
def test_malformed_lines_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        babi.parse_stories(text, arguments=1, answers=1, answer_is_node=True)


def _fold(tmp_path, task=15, text=STORY):
    for split in ("train", "test"):
        (tmp_path / split).mkdir(parents=True, exist_ok=True)
        (tmp_path / split / f"{task}_graphs.txt").write_text(text, encoding="utf-8")
    (tmp_path / "train" / f"{task}_edge_types.txt").write_text("is=1\nhas_fear=2\nlikes=3\n", encoding="utf-8")
    (tmp_path / "train" / f"{task}_node_ids.txt").write_text("A=1\nB=2\n", encoding="utf-8")
    return tmp_path


def test_a_fold_directory(tmp_path):
    task = babi.load_babi_task(_fold(tmp_path), 15)
    assert task.output == "node" and len(task.train) == len(task.test) == 2
    assert task.edge_types == 3 and task.question_types == 1           # the name file knows a third edge type
    assert task.node_names == {0: "A", 1: "B"} and task.labels == {}


def test_fold_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="task: expected one of \\[4, 15, 16, 18, 19\\], got 3"):
        babi.load_babi_task(tmp_path, 3)
    with pytest.raises(ValueError, match="no train/15_graphs.txt"):
        babi.load_babi_task(tmp_path, 15)
    _fold(tmp_path)
    (tmp_path / "train" / "15_labels.txt").write_text("true=1\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="15_labels.txt:2: expected 'name=id'"):
        babi.load_babi_task(tmp_path, 15)
    (tmp_path / "train" / "15_labels.txt").unlink()
    monkeypatch.setattr(babi, "MAX_BYTES", 8)
    with pytest.raises(ValueError, match="15_graphs.txt: .* bytes, more than the 8"):
        babi.load_babi_task(tmp_path, 15)
