r"""Conversations for chatbots: dialogues, the exchanges they hold, and their context.

A dialogue is a list of turns (utterances), speakers alternating. Two file formats:

- pairs (``query<TAB>reply`` a line, LCCC's and KdConv's format): consecutive pairs where one
  pair's query is the previous pair's reply are one dialogue (``a→b, b→c`` is the dialogue
  ``a, b, c``); any other pair starts a new dialogue. A file of unrelated pairs is a set of
  two-turn dialogues.
- dialogues: one turn a line, dialogues separated by blank lines.

An exchange is the reply to the last ``k`` turns before it, the context (the query is its last
turn)::

    dialogue u_1 .. u_n,  reply u_i (i >= 2):   context = u_{max(1, i-k)} .. u_{i-1}

``k = 1`` is single-turn chat (the query alone). Turns are cleaned before use
(:func:`clean_turn`: control and format characters dropped, whitespace runs one space).

Encoding (ids of :func:`rnnkit.data.pairs.build_vocabulary`: ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2):
the context is its turns joined by the end-of-utterance token ``</s>``, ``u_1 </s> u_2 </s> q``
(the separator form), each turn cut to its last ``max_len`` tokens; the reply is
``<s> r </s>``. A hierarchical encoder reads the same ids split at ``</s>`` into turns:
:func:`collate_turns` gives ``tokens (B, N, S)`` (N turns, right-padded with empty turns; S tokens)
and ``lengths (B, N)`` (0 for a padding turn) in a :class:`~rnnkit.data.sequences.SequenceBatch`.
"""
from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .pairs import BOS_ID, EOS_ID, collate_pairs, read_pairs
from .sequences import BucketBatches, Example, SequenceBatch, collate
from .textfile import read_text
from .vocab import Vocabulary

SEPARATOR_ID = EOS_ID          # </s> ends every context turn but the last

Dialogue = list[str]


@dataclass(frozen=True)
class Exchange:
    """One reply and the turns before it.

    Attributes:
        context: the last k turns before the reply, oldest first; the query is the last one.
        reply: the turn that answered them.
    """

    context: tuple[str, ...]
    reply: str

    @property
    def query(self) -> str:
        return self.context[-1]


def clean_turn(text: str) -> str:
    """``text`` without control and format characters (Unicode categories Cc, Cf, Cs, Co, Cn: tabs and
    newlines become spaces), whitespace runs collapsed to one space, stripped."""
    kept = []
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            ch = " " if ch in "\t\n\r\x0b\x0c" else ""
        kept.append(ch)
    return " ".join("".join(kept).split())


def read_dialogues(path: str | Path, encoding: str = "utf-8") -> list[Dialogue]:
    """The dialogues of a file of turns, one turn a line, dialogues separated by blank lines.

    Raises:
        ValueError: the file cannot be read (:func:`~rnnkit.data.textfile.read_text`), a dialogue
            has a single turn (named by its line), or there is no dialogue.
    """
    dialogues: list[Dialogue] = []
    block: Dialogue = []
    start = 0
    for number, line in enumerate([*read_text(path, encoding).split("\n"), ""], start=1):
        turn = clean_turn(line)
        if turn:
            start = start if block else number
            block.append(turn)
            continue
        if len(block) == 1:
            raise ValueError(f"{path}, line {start}: a dialogue of one turn (expected at least two turns, "
                             "one a line; dialogues separated by blank lines)")
        if block:
            dialogues.append(block)
        block = []
    if not dialogues:
        raise ValueError(f"{path}: no dialogue found (expected turns one a line, dialogues separated by blank lines)")
    return dialogues


def read_pair_dialogues(path: str | Path, encoding: str = "utf-8") -> list[Dialogue]:
    """The dialogues of a ``query<TAB>reply`` file (:func:`chain_pairs` of its pairs; extra columns ignored)."""
    pairs = [(clean_turn(q), clean_turn(r)) for q, r in read_pairs(path, 0, 1, encoding)]
    return chain_pairs([(q, r) for q, r in pairs if q and r])


def chain_pairs(pairs: Sequence[tuple[str, str]]) -> list[Dialogue]:
    """Dialogues from consecutive pairs: a pair whose query is the previous pair's reply continues
    its dialogue, any other pair starts one (module docstring)."""
    dialogues: list[Dialogue] = []
    for query, reply in pairs:
        if dialogues and dialogues[-1][-1] == query:
            dialogues[-1].append(reply)
        else:
            dialogues.append([query, reply])
    return dialogues


def exchanges(dialogues: Sequence[Dialogue], turns: int) -> list[Exchange]:
    """Every reply of every dialogue (its second turn on) with the ``turns`` turns before it, in order."""
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise ValueError(f"turns: expected a positive integer, got {turns!r}")
    return [Exchange(tuple(dialogue[max(0, i - turns):i]), dialogue[i])
            for dialogue in dialogues for i in range(1, len(dialogue))]


def context_ids(context: Sequence[str], vocab: Vocabulary, max_len: int | None = None) -> list[int]:
    """The separator form ``u_1 </s> u_2 </s> q`` of a context (module docstring); turns that encode
    to nothing are left out, each turn is cut to its last ``max_len`` tokens."""
    turns = [ids[-max_len:] if max_len else ids for ids in (vocab.encode(turn).tolist() for turn in context) if ids]
    return [token for number, ids in enumerate(turns) for token in ([SEPARATOR_ID] if number else []) + ids]


def encode_exchanges(items: Sequence[Exchange], vocab: Vocabulary, max_len: int | None = None) -> list[Example]:
    """``Example(ids=context ids, target=[BOS_ID, reply ids..., EOS_ID])`` of each exchange whose reply
    has 1 .. ``max_len`` tokens and whose query encodes to at least one token; the context turns
    are cut to their last ``max_len`` tokens."""
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"max_len: expected a positive integer or None, got {max_len!r}")
    examples = []
    for item in items:
        reply = vocab.encode(item.reply).tolist()
        source = context_ids(item.context, vocab, max_len)
        if not reply or (max_len is not None and len(reply) > max_len) or not vocab.encode(item.query).numel():
            continue
        examples.append(Example(source, target=[BOS_ID, *reply, EOS_ID]))
    return examples


def split_turns(ids: Sequence[int]) -> list[list[int]]:
    """Separator-form ids back into turns (split at ``</s>``)."""
    turns: list[list[int]] = [[]]
    for token in ids:
        if token == SEPARATOR_ID:
            turns.append([])
        else:
            turns[-1].append(token)
    return turns


def collate_turns(examples: Sequence[Example]) -> SequenceBatch:
    """Pads separator-form examples into turns: ``tokens (B, N, S)``, ``lengths (B, N)`` (0: no turn),
    ``targets (B, T)`` padded with -1 (None for examples without targets)."""
    split = [split_turns(e.ids) for e in examples]
    if any(not all(turns) for turns in split):
        raise ValueError("examples: expected contexts of non-empty turns (no leading, trailing or doubled </s>)")
    n_turns = max(len(turns) for turns in split)
    width = max(len(turn) for turns in split for turn in turns)
    tokens = torch.zeros(len(examples), n_turns, width, dtype=torch.long)        # (B, N, S)
    lengths = torch.zeros(len(examples), n_turns, dtype=torch.long)              # (B, N)
    for row, turns in enumerate(split):
        for number, turn in enumerate(turns):
            tokens[row, number, :len(turn)] = torch.tensor(turn, dtype=torch.long)
            lengths[row, number] = len(turn)
    targets = None if examples[0].target is None else collate_pairs(examples).targets   # (B, T)
    return SequenceBatch(tokens, lengths, targets)


class ExchangeBatches(BucketBatches):
    """:class:`~rnnkit.data.sequences.BucketBatches` of encoded exchanges (similar context lengths
    together), in the separator form (:func:`rnnkit.data.pairs.collate_pairs`) or, with
    ``hierarchical=True``, as turns (:func:`collate_turns`)."""

    def __init__(self, examples: Sequence[Example], batch_size: int, shuffle: bool = True, *,
                 hierarchical: bool = False):
        super().__init__(examples, batch_size, shuffle)
        self.hierarchical = hierarchical

    def __iter__(self) -> Iterator[SequenceBatch]:
        collate = collate_turns if self.hierarchical else collate_pairs
        for indices in self.batch_indices():
            yield collate([self.examples[i] for i in indices])


def pad_context(examples: Sequence[Example], hierarchical: bool) -> SequenceBatch:
    """The batch of contexts alone (no targets) in either form, for decoding."""
    bare = [dataclasses.replace(e, target=None) for e in examples]
    return collate_turns(bare) if hierarchical else collate(bare)
