r"""Treebank files: one PTB bracket tree per line, as the Stanford Sentiment Treebank ships them.

    (3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 (2 destined) ...

Every node carries a sentiment class, 0 (very negative) .. 4 (very positive). Tokens keep the
Penn Treebank escapes (``-LRB-`` for ``(``, ``-RRB-`` for ``)``) so that a token never holds a
bracket; :func:`ptb_escape` escapes the user's plain text the same way. A directory of the
treebank holds ``train.txt``, ``dev.txt`` and ``test.txt``.

Reads are bounded (:data:`MAX_BYTES`); a malformed tree or label is a ValueError naming the file
and the line.
"""
from __future__ import annotations

from pathlib import Path

from ..structured.trees import Tree
from .textfile import read_text

MAX_BYTES = 256 << 20                  # 256 MiB: the SST training file is 2 MB
SPLITS = ("train", "dev", "test")
SENTIMENT_CLASSES = 5
ESCAPES = {"(": "-LRB-", ")": "-RRB-", "{": "-LCB-", "}": "-RCB-", "[": "-LSB-", "]": "-RSB-"}


def ptb_escape(token: str) -> str:
    """A token as the treebank writes it: brackets by their PTB names."""
    for bracket, name in ESCAPES.items():
        token = token.replace(bracket, name)
    return token


def read_trees(path: str | Path, encoding: str = "utf-8", *, labelled: bool = True) -> list[Tree]:
    """The trees of a file, one bracket string per non-blank line.

    Raises:
        ValueError: the file is missing, larger than :data:`MAX_BYTES`, not text, or holds no tree;
            a malformed tree (``FILE:LINE: tree: ...``).
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_BYTES} a treebank file may have")
    trees = []
    for number, line in enumerate(read_text(path, encoding).split("\n"), 1):
        if line.strip():
            try:
                trees.append(Tree.from_brackets(line, labelled=labelled))
            except ValueError as err:
                raise ValueError(f"{path}:{number}: {err}") from None
    if not trees:
        raise ValueError(f"{path}: no tree in the file")
    return trees


def sentiment_trees(path: str | Path, encoding: str = "utf-8") -> list[Tree]:
    """:func:`read_trees` with every label an integer class 0..4 and a word at every leaf.

    Raises:
        ValueError: as :func:`read_trees`, or a label outside 0..4 (``FILE:LINE: ...``).
    """
    trees = read_trees(path, encoding)
    out = []
    for number, tree in enumerate(trees, 1):
        labels = []
        for label in tree.labels:
            if label not in ("0", "1", "2", "3", "4"):
                raise ValueError(f"{path}: tree {number}: node label {label!r}, expected a sentiment class 0..4")
            labels.append(int(label))
        out.append(Tree(tree.parents, labels, tree.tokens))
    return out


def load_treebank(directory: str | Path, encoding: str = "utf-8") -> dict[str, list[Tree]]:
    """``{"train": trees, "dev": trees, "test": trees}`` of a sentiment treebank directory.

    Raises:
        ValueError: the directory or one of its three files is missing, or a file is malformed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: expected a directory with {', '.join(f'{s}.txt' for s in SPLITS)}")
    missing = [f"{s}.txt" for s in SPLITS if not (directory / f"{s}.txt").is_file()]
    if missing:
        raise ValueError(f"{directory}: missing {', '.join(missing)} (a treebank directory holds "
                         f"{', '.join(f'{s}.txt' for s in SPLITS)})")
    return {split: sentiment_trees(directory / f"{split}.txt", encoding) for split in SPLITS}
