"""Sentence pairs for translation: tab-separated files, vocabularies with BOS/EOS, encoded examples.

The file format is Tatoeba's (``english<TAB>chinese<TAB>attribution``): one pair a line, any
number of tab-separated columns, the source and target taken from the columns given (extra
columns ignored, blank lines skipped). Each side is tokenised at its own level with
:func:`rnnkit.data.tokenize.tokenize`: ``"char"`` (every character a token: Chinese is read by
characters) or ``"word"`` (words and punctuation marks).

Ids: ``<unk>`` 0, ``<s>`` (BOS) 1, ``</s>`` (EOS) 2, then the tokens by decreasing count. An
encoded pair is a :class:`~rnnkit.data.sequences.Example` with the source ids as ``ids`` and
``<s> y_1 .. y_n </s>`` as ``target``. :class:`PairBatches` buckets them by source length as
:class:`~rnnkit.data.sequences.BucketBatches` does and pads them into a
:class:`~rnnkit.data.sequences.SequenceBatch`: ``tokens (B, S)`` and ``lengths (B,)`` are the
source, ``targets (B, T)`` the target padded with -1 (the decoder reads ``targets[:, :-1]`` and
predicts ``targets[:, 1:]``). Splits: :func:`rnnkit.data.splits.split_items`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .sequences import BucketBatches, Example, SequenceBatch, collate, count_vocabulary
from .textfile import read_text
from .tokenize import tokenize
from .vocab import UNK, Vocabulary

BOS, EOS = "<s>", "</s>"
BOS_ID, EOS_ID = 1, 2
SPECIALS = (BOS, EOS)

Pair = tuple[str, str]


def read_pairs(path: str | Path, src_col: int = 0, tgt_col: int = 1, encoding: str = "utf-8") -> list[Pair]:
    """The ``(source, target)`` sentences of a tab-separated file.

    Arguments:
        path: the file (Tatoeba's ``cmn.txt``: English in column 0, Chinese in column 1).
        src_col, tgt_col: 0-based column numbers of the source and the target; other columns are ignored.
        encoding: the file's encoding.
    Returns:
        The pairs in file order, each side stripped of surrounding spaces; lines that are blank or
        have an empty source or target are skipped.
    Raises:
        ValueError: bad column numbers, a line with too few columns (named by its number), or no pair at all.
    """
    for name, value in (("src_col", src_col), ("tgt_col", tgt_col)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: expected a column number >= 0, got {value!r}")
    if src_col == tgt_col:
        raise ValueError(f"tgt_col: expected a column other than src_col={src_col}, got {tgt_col}")
    pairs = []
    for number, line in enumerate(read_text(path, encoding).split("\n"), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) <= max(src_col, tgt_col):
            raise ValueError(f"{path}, line {number}: expected at least {max(src_col, tgt_col) + 1} tab-separated "
                             f"columns (src_col={src_col}, tgt_col={tgt_col}), got {len(columns)}: {line[:60]!r}")
        source, target = columns[src_col].strip(), columns[tgt_col].strip()
        if source and target:
            pairs.append((source, target))
    if not pairs:
        raise ValueError(f"{path}: no sentence pair found (expected lines of tab-separated columns)")
    return pairs


def build_vocabulary(sentences: Sequence[str], level: str = "char", min_count: int = 1,
                     max_size: int | None = None) -> Vocabulary:
    """A vocabulary for one side: ``<unk>, <s>, </s>``, then the tokens of ``sentences`` by count.

    Arguments:
        sentences: the training sentences of that side.
        level: ``"char"`` or ``"word"``.
        min_count: rarer tokens become ``<unk>``.
        max_size: at most this many ids, the three special ones included (None: every token).
    """
    if max_size is not None and (not isinstance(max_size, int) or max_size <= len(SPECIALS) + 1):
        raise ValueError(f"max_size: expected an integer > {len(SPECIALS) + 1} (<unk>, <s>, </s> and a token) "
                         f"or None, got {max_size!r}")
    counted = count_vocabulary([tokenize(s, level) for s in sentences], level, min_count,
                               None if max_size is None else max_size - len(SPECIALS))
    return Vocabulary([*SPECIALS, *(t for t in counted.tokens[1:] if t not in SPECIALS)], level)


def check_vocabulary(vocab: Vocabulary, name: str) -> Vocabulary:
    """Raises ValueError unless ``vocab`` has the special tokens at their ids (see the module docstring)."""
    if not isinstance(vocab, Vocabulary) or vocab.tokens[:3] != [UNK, *SPECIALS]:
        got = vocab.tokens[:3] if isinstance(vocab, Vocabulary) else type(vocab).__name__
        raise ValueError(f"{name}: expected a vocabulary starting {[UNK, *SPECIALS]} (see build_vocabulary), "
                         f"got {got!r}")
    return vocab


def encode_pairs(pairs: Sequence[Pair], src_vocab: Vocabulary, tgt_vocab: Vocabulary,
                 max_src_len: int | None = None, max_tgt_len: int | None = None) -> list[Example]:
    """Encodes pairs and keeps those whose sides have 1 .. max tokens.

    Arguments:
        pairs: ``(source, target)`` sentences.
        src_vocab, tgt_vocab: from :func:`build_vocabulary`.
        max_src_len, max_tgt_len: the length filter in tokens (``<s>``/``</s>`` not counted); None: no limit.
    Returns:
        ``Example(ids=source ids, target=[BOS_ID, target ids..., EOS_ID])`` in the order of ``pairs``.
    """
    check_vocabulary(src_vocab, "src_vocab")
    check_vocabulary(tgt_vocab, "tgt_vocab")
    for name, value in (("max_src_len", max_src_len), ("max_tgt_len", max_tgt_len)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}: expected a positive integer or None, got {value!r}")
    examples = []
    for source, target in pairs:
        src, tgt = src_vocab.encode(source).tolist(), tgt_vocab.encode(target).tolist()
        if not src or not tgt or (max_src_len is not None and len(src) > max_src_len) or (
                max_tgt_len is not None and len(tgt) > max_tgt_len):
            continue
        examples.append(Example(src, target=[BOS_ID, *tgt, EOS_ID]))
    return examples


def collate_pairs(examples: Sequence[Example]) -> SequenceBatch:
    """Pads encoded pairs: the source as :func:`~rnnkit.data.sequences.collate` does, and the
    targets ``(B, T_max)`` with -1 (a target is usually not as long as its source)."""
    batch = collate([Example(e.ids) for e in examples])
    targets = torch.full((len(examples), max(len(e.target) for e in examples)), -1, dtype=torch.long)  # (B, T)
    for row, example in enumerate(examples):
        targets[row, :len(example.target)] = torch.tensor(example.target, dtype=torch.long)
    return dataclasses.replace(batch, targets=targets)


class PairBatches(BucketBatches):
    """:class:`~rnnkit.data.sequences.BucketBatches` of encoded pairs (similar source lengths
    together, a fresh order each pass when shuffling), padded by :func:`collate_pairs`."""

    def __iter__(self) -> Iterator[SequenceBatch]:
        for indices in self.batch_indices():
            yield collate_pairs([self.examples[i] for i in indices])
