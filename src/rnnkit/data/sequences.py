r"""Independent variable-length sequences (sentences, reviews) as padded, length-bucketed batches.

Tokens become ids through a :class:`~rnnkit.data.vocab.Vocabulary` (id 0 is ``<unk>``, which also
pads). With bigram features each position t also gets the ids of its left and right character
bigrams ``c_{t-1} c_t`` and ``c_t c_{t+1}`` (``<s>`` and ``</s>`` stand beyond the ends), the
standard input of Chinese segmenters (Chen et al. 2015)::

    tokens   迈   向   充
    left     <s>迈 迈向 向充
    right    迈向 向充 充</s>

A character tagger may also read the characters in a normal form (:mod:`rnnkit.data.textnorm`:
full-width and half-width forms alike, digits and Latin letters as class symbols) and the match
patterns of a word dictionary (:mod:`rnnkit.data.lexicon`); both are one value per token, so the
tags still line up with the user's characters.

Batches put sequences of similar length together (:class:`BucketBatches`), so little time is
spent on padding; a batch's steps beyond a row's length are padding (``lengths`` says where).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import torch

from .lexicon import Lexicon
from .textnorm import check_normalizer, normal_form
from .vocab import Vocabulary

BOS, EOS = "<s>", "</s>"


def bigrams(tokens: Sequence[str]) -> list[str]:
    """The ``n + 1`` bigrams around ``n`` tokens: ``[<s>t_0, t_0t_1, ..., t_{n-1}</s>]``;
    position t's left bigram is entry t and its right bigram entry t + 1."""
    padded = [BOS, *tokens, EOS]
    return [a + b for a, b in zip(padded, padded[1:])]


def count_vocabulary(sequences: Sequence[Sequence[str]], level: str = "char", min_count: int = 1,
                     max_size: int | None = None) -> Vocabulary:
    """A vocabulary of the tokens in ``sequences``, most frequent first (ties by token).

    Arguments:
        sequences: token lists.  level: recorded in the vocabulary (how raw text is split later).
        min_count: rarer tokens are left out (they read as ``<unk>``).
        max_size: at most this many ids including ``<unk>``.
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count: expected a positive integer, got {min_count!r}")
    counts = Counter(token for sequence in sequences for token in sequence)
    ranked = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
    if not ranked:
        raise ValueError(f"sequences: no token occurs at least min_count={min_count} times")
    return Vocabulary(ranked[:None if max_size is None else max_size - 1], level)


def split_text(text: str, level: str) -> list[str]:
    """Raw text to tokens: its characters without whitespace (``char``) or its whitespace-separated words (``word``)."""
    if level not in ("char", "word"):
        raise ValueError(f"level: expected char or word, got {level!r}")
    return [c for c in text if not c.isspace()] if level == "char" else text.split()


class TokenEncoder:
    """Token ids, and optionally bigram ids and dictionary match patterns, of token sequences.

    Arguments:
        vocab: the token vocabulary (its ``level`` says how raw text splits: characters or whitespace).
        bigram_vocab: the bigram vocabulary, or None for no bigram features.
        normalize: the normal form tokens are read in before any lookup (``width-classes``, see
            :mod:`rnnkit.data.textnorm`), or None: the tokens as they are.
        lexicon: a word dictionary in that normal form (character level only), or None.
    """

    def __init__(self, vocab: Vocabulary, bigram_vocab: Vocabulary | None = None, normalize: str | None = None,
                 lexicon: Lexicon | None = None):
        check_normalizer(normalize)
        if lexicon is not None and vocab.level != "char":
            raise ValueError(f"lexicon: dictionary features need character tokens, the vocabulary is {vocab.level}-level")
        self.vocab, self.bigram_vocab, self.normalize, self.lexicon = vocab, bigram_vocab, normalize, lexicon

    @classmethod
    def build(cls, sequences: Sequence[Sequence[str]], level: str = "char", min_count: int = 1,
              use_bigrams: bool = False, bigram_min_count: int = 2, normalize: str | None = None,
              lexicon_words: Sequence[Sequence[str]] | None = None, lexicon_max_len: int = 4,
              dictionary: Iterable[str] = ()) -> "TokenEncoder":
        """Vocabularies counted on (training) ``sequences`` in their normal form (see :func:`count_vocabulary`);
        with ``lexicon_words`` (the word lists of the same sentences) and/or ``dictionary`` (words from elsewhere,
        e.g. :func:`~rnnkit.data.lexicon.read_dictionary`) also a lexicon: the words of :meth:`Lexicon.build`
        and the dictionary's, in the same normal form."""
        symbols = [normal_form(s, normalize) for s in sequences]
        vocab = count_vocabulary(symbols, level, min_count)
        bigram_vocab = count_vocabulary([bigrams(s) for s in symbols], level, bigram_min_count) \
            if use_bigrams else None
        external = {"".join(normal_form(word, normalize)) for word in dictionary}
        lexicon = None
        if lexicon_words is not None or external:
            trained = set() if lexicon_words is None else Lexicon.build(
                [["".join(normal_form(word, normalize)) for word in words] for words in lexicon_words],
                max_len=lexicon_max_len).words
            lexicon = Lexicon(trained | external, lexicon_max_len)
        return cls(vocab, bigram_vocab, normalize, lexicon)

    def split(self, text: str) -> list[str]:
        """Raw text to tokens at the vocabulary's level (:func:`split_text`)."""
        return split_text(text, self.vocab.level)

    def encode(self, tokens: Sequence[str]) -> tuple[list[int], list[tuple[int, int]] | None]:
        """``(ids, bigram_ids)``: one id per token and, per token, its (left, right) bigram ids
        (None without bigrams), both of the tokens' normal form."""
        tokens = normal_form(tokens, self.normalize)
        get = self.vocab.index.get
        ids = [get(t, 0) for t in tokens]
        if self.bigram_vocab is None:
            return ids, None
        get_pair = self.bigram_vocab.index.get
        pair_ids = [get_pair(b, 0) for b in bigrams(tokens)]
        return ids, list(zip(pair_ids[:-1], pair_ids[1:]))

    def example(self, tokens: Sequence[str], target: Any = None) -> "Example":
        """The :class:`Example` of ``tokens``: :meth:`encode`, and the dictionary match patterns with a lexicon."""
        ids, pairs = self.encode(tokens)
        matches = None if self.lexicon is None else self.lexicon.patterns(normal_form(tokens, self.normalize))
        return Example(ids, pairs, target, matches)

    def to_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict(),
                "bigram_vocab": None if self.bigram_vocab is None else self.bigram_vocab.to_dict(),
                "normalize": self.normalize, "lexicon": None if self.lexicon is None else self.lexicon.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> "TokenEncoder":
        if not isinstance(data, dict) or "vocab" not in data:
            raise ValueError(f"encoder: expected a dict with 'vocab' and 'bigram_vocab', got {type(data).__name__}")
        bigram, lexicon = data.get("bigram_vocab"), data.get("lexicon")
        return cls(Vocabulary.from_dict(data["vocab"]), None if bigram is None else Vocabulary.from_dict(bigram),
                   data.get("normalize"), None if lexicon is None else Lexicon.from_dict(lexicon))


@dataclass
class SequenceBatch:
    """A padded batch of independent sequences.

    Attributes:
        tokens: ``(B, T)`` token ids, 0 at padded steps.
        lengths: ``(B,)`` valid steps per row.
        targets: ``(B, T)`` tag ids (-1 at padded steps), ``(B,)`` class ids, or ``(B, M)`` values; None to predict.
        bigrams: ``(B, T, 2)`` left/right bigram ids, or None.
        lexicon: ``(B, T)`` dictionary match patterns (0 at padded steps), or None.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None = None
    bigrams: torch.Tensor | None = None
    lexicon: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "SequenceBatch":
        move = (lambda t: None if t is None else t.to(device, non_blocking=True))
        return SequenceBatch(move(self.tokens), move(self.lengths), move(self.targets), move(self.bigrams),
                             move(self.lexicon))


@dataclass(frozen=True)
class Example:
    """One encoded sequence: ``ids``, optional ``bigram_ids`` pairs, its target
    (a list of tag ids, a class id, a list of values, or None) and optional dictionary ``matches``
    (one pattern per token, :meth:`rnnkit.data.lexicon.Lexicon.patterns`)."""

    ids: list[int]
    bigram_ids: list[tuple[int, int]] | None = None
    target: Any = None
    matches: list[int] | None = None


def collate(examples: Sequence[Example]) -> SequenceBatch:
    """Pads examples into one :class:`SequenceBatch` (per-token targets padded with -1)."""
    lengths = torch.tensor([len(e.ids) for e in examples], dtype=torch.long)       # (B,)
    if int(lengths.min()) < 1:
        raise ValueError("examples: expected sequences of at least one token, got an empty one")
    time = int(lengths.max())
    tokens = torch.zeros(len(examples), time, dtype=torch.long)                    # (B, T)
    for b, e in enumerate(examples):
        tokens[b, :len(e.ids)] = torch.tensor(e.ids)
    pairs = None
    if examples[0].bigram_ids is not None:
        pairs = torch.zeros(len(examples), time, 2, dtype=torch.long)              # (B, T, 2)
        for b, e in enumerate(examples):
            pairs[b, :len(e.ids)] = torch.tensor(e.bigram_ids, dtype=torch.long)
    matches = None
    if examples[0].matches is not None:
        matches = torch.zeros(len(examples), time, dtype=torch.long)               # (B, T)
        for b, e in enumerate(examples):
            matches[b, :len(e.ids)] = torch.tensor(e.matches, dtype=torch.long)
    return SequenceBatch(tokens, lengths, _collate_targets([e.target for e in examples], time), pairs, matches)


def _collate_targets(targets: list[Any], time: int) -> torch.Tensor | None:
    if targets[0] is None:
        return None
    if isinstance(targets[0], (list, tuple)) and all(isinstance(v, int) for v in targets[0]):
        padded = torch.full((len(targets), time), -1, dtype=torch.long)           # (B, T)
        for b, tags in enumerate(targets):
            padded[b, :len(tags)] = torch.tensor(tags, dtype=torch.long)
        return padded
    return torch.tensor(targets)                                                  # (B,) or (B, M)


class BucketBatches:
    """Re-iterable padded batches of examples, similar lengths together.

    Arguments:
        examples: the encoded sequences.
        batch_size: B.
        shuffle: each pass draws a fresh order from torch's global generator (which the trainer
            seeds per epoch): the examples are permuted, cut into pools of 50 batches, each pool is
            sorted by length and cut into batches, and the batches are shuffled. Without
            shuffle the examples are sorted by length (stably) and cut into batches;
            :meth:`batch_indices` tells which examples each batch holds.
    """

    POOL = 50

    def __init__(self, examples: Sequence[Example], batch_size: int, shuffle: bool = True):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not examples:
            raise ValueError("examples: expected at least one example, got none")
        self.examples, self.batch_size, self.shuffle = list(examples), batch_size, shuffle

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def __iter__(self) -> Iterator[SequenceBatch]:
        for indices in self.batch_indices():
            yield collate([self.examples[i] for i in indices])

    def size(self, i: int) -> int:
        """The length that sorts example ``i`` into its bucket (its tokens)."""
        return len(self.examples[i].ids)

    def batch_indices(self) -> list[list[int]]:
        """The example indices of each batch of one pass (a fresh draw each call when shuffling)."""
        size = self.batch_size
        if not self.shuffle:
            order = sorted(range(len(self.examples)), key=self.size)
            return [order[i:i + size] for i in range(0, len(order), size)]
        order = torch.randperm(len(self.examples)).tolist()
        batches = []
        for p in range(0, len(order), size * self.POOL):
            pool = sorted(order[p:p + size * self.POOL], key=self.size)
            batches += [pool[i:i + size] for i in range(0, len(pool), size)]
        return [batches[i] for i in torch.randperm(len(batches)).tolist()]
