r"""bAbI stories as graphs, in the format of Li et al. 2016 (``processed_K/{train,test}/T_graphs.txt``).

Stories are separated by blank lines. An edge line ``SOURCE TYPE TARGET`` (1-based ids) is a fact
(``A is B``); a question line ``? TYPE ARGUMENT.. ANSWER..`` asks about its story's graph: the
answer is a node (tasks 4, 15, 16), a label (task 18: true / false) or a sequence of labels
(task 19: two directions). Beside each graph file lie ``T_edge_types.txt``,
``T_question_types.txt``, ``T_labels.txt`` and ``T_node_ids.txt``: ``name=id`` lines.

Ids become 0-based here. A story's graph has as many nodes as its largest node id (a question may
name a node no edge touches). Reads are bounded (:data:`MAX_BYTES`); a malformed line is a
ValueError naming the file and the line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..structured.graphs import Graph
from .textfile import read_text

MAX_BYTES = 64 << 20                 # 64 MiB: a task's graph file is under 300 kB
MAX_ID = 1 << 20                     # node, type and label ids
#: task -> (output, arguments per question, answers per question)
TASKS = {4: ("node", 1, 1), 15: ("node", 1, 1), 16: ("node", 1, 1), 18: ("class", 2, 1), 19: ("sequence", 2, 2)}


@dataclass(frozen=True)
class Question:
    """``kind``: the question type (1-based, as in the file); ``arguments``: 0-based nodes;
    ``answer``: 0-based nodes (node outputs) or 0-based labels."""

    kind: int
    arguments: tuple[int, ...]
    answer: tuple[int, ...]


@dataclass(frozen=True)
class Story:
    graph: Graph
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class BabiTask:
    """One task of one fold: its stories and the names of its ids (0-based id -> name)."""

    task: int
    train: list[Story]
    test: list[Story]
    edge_types: int
    question_types: int
    labels: dict[int, str]
    node_names: dict[int, str]

    @property
    def output(self) -> str:
        return TASKS[self.task][0]


def read_stories(path: str | Path, arguments: int, answers: int, answer_is_node: bool,
                 encoding: str = "utf-8", *, require_answers: bool = True) -> list[Story]:
    """The stories of a graph file (:func:`parse_stories` of its text).

    Raises:
        ValueError: a missing, oversized, non-text or empty file, or a malformed line (``FILE:LINE: ...``).
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_BYTES} a graph file may have")
    return parse_stories(read_text(path, encoding), arguments, answers, answer_is_node, source=str(path),
                         require_answers=require_answers)


def parse_stories(text: str, arguments: int, answers: int, answer_is_node: bool, *, source: str = "stories",
                  require_answers: bool = True) -> list[Story]:
    """The stories of a graph file's text.

    Arguments:
        arguments: node ids after a question's type.  answers: ids after those.
        answer_is_node: whether the answer ids are nodes (they count towards the graph's size).
        source: the name errors give (a file name).
        require_answers: False: a question may also end after its arguments (its answer is then ``()``).
    Raises:
        ValueError: no story; a line that is neither an edge of three positive ids nor a question of
            ``1 + arguments + answers`` positive ids (``SOURCE:LINE: ...``).
    """
    stories: list[Story] = []
    edges: list[tuple[int, int, int]] = []
    questions: list[Question] = []
    nodes = 0
    for number, line in enumerate(text.split("\n") + [""], 1):
        fields = line.split()
        if not fields:
            if edges or questions:
                stories.append(Story(Graph(max(nodes, 1), edges), tuple(questions)))
            edges, questions, nodes = [], [], 0
            continue
        question = fields[0] == "?"
        expected = 1 + arguments + answers if question else 3
        if question and not require_answers and len(fields) == 2 + arguments:
            expected = 1 + arguments
        form = f"'? TYPE{' ARGUMENT' * arguments}{' ANSWER' * answers}'" if question else "'SOURCE TYPE TARGET'"
        ids = _ids(fields[1:] if question else fields, expected, f"{source}:{number}", form)
        if question:
            kind, args, answer = ids[0], ids[1:1 + arguments], ids[1 + arguments:]
            questions.append(Question(kind, tuple(a - 1 for a in args), tuple(a - 1 for a in answer)))
            nodes = max(nodes, *args, *(answer if answer_is_node else ()))
        else:
            edges.append((ids[0] - 1, ids[1] - 1, ids[2] - 1))
            nodes = max(nodes, ids[0], ids[2])
    if not stories:
        raise ValueError(f"{source}: no story (edge lines 'SOURCE TYPE TARGET' and question lines '? TYPE ...')")
    return stories


def _ids(fields: list[str], expected: int, where: str, form: str) -> list[int]:
    if len(fields) != expected or not all(f.isdigit() and 0 < int(f) <= MAX_ID for f in fields):
        raise ValueError(f"{where}: expected {form} with ids in 1..{MAX_ID}, got {' '.join(fields)[:60]!r}")
    return [int(f) for f in fields]


def read_names(path: str | Path) -> dict[int, str]:
    """``name=id`` lines as ``{id - 1: name}``; a missing file gives ``{}``.

    Raises:
        ValueError: a line that is not ``name=positive id`` (``FILE:LINE: ...``).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_BYTES} a name file may have")
    names = {}
    data = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            name, sep, value = line.strip().rpartition("=")
            if not sep or not name or not value.isdigit() or not 0 < int(value) <= MAX_ID:
                raise ValueError(f"{path}:{number}: expected 'name=id' with an id in 1..{MAX_ID}, got {line[:60]!r}")
            names[int(value) - 1] = name
    return names


def load_babi_task(directory: str | Path, task: int) -> BabiTask:
    """Task ``task`` of a fold directory holding ``train/`` and ``test/`` (``processed_K`` of Li et al.).

    Raises:
        ValueError: an unknown task, a missing directory or file, or a malformed file.
    """
    if task not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {task!r}")
    directory = Path(directory)
    output, arguments, answers = TASKS[task]
    parts = {}
    for split in ("train", "test"):
        path = directory / split / f"{task}_graphs.txt"
        if not path.is_file():
            raise ValueError(f"{directory}: no {split}/{task}_graphs.txt (expected a bAbI fold directory with "
                             "train/ and test/, e.g. processed_1)")
        parts[split] = read_stories(path, arguments, answers, output == "node")
    names = {kind: read_names(directory / "train" / f"{task}_{kind}.txt")
             for kind in ("edge_types", "question_types", "labels", "node_ids")}
    stories = parts["train"] + parts["test"]
    edge_types = max([len(names["edge_types"])] + [g.graph.num_edge_types for g in stories])
    question_types = max([len(names["question_types"])] + [q.kind for s in stories for q in s.questions])
    return BabiTask(task, parts["train"], parts["test"], edge_types, question_types, names["labels"],
                    names["node_ids"])
