"""A vocabulary: the bijection between tokens and the integer ids a model reads and writes."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Sequence

import torch

from .tokenize import check_level, join_tokens, token_piece, tokenize

UNK = "<unk>"


class Vocabulary:
    """Tokens of one level (``"char"`` or ``"word"``) numbered ``0 .. V-1``; id 0 is ``<unk>``.

    Text with tokens outside the vocabulary encodes them as ``<unk>`` (id 0).

    Arguments:
        tokens: the known tokens in id order, without ``<unk>`` (it is prepended); no duplicates.
        level: ``"char"`` or ``"word"``: how text is split into tokens and joined back.
    """

    def __init__(self, tokens: Sequence[str], level: str = "char"):
        self.level = check_level(level)
        tokens = [UNK, *(t for t in tokens if t != UNK)]
        if len(set(tokens)) != len(tokens):
            duplicates = sorted({t for t in tokens if tokens.count(t) > 1})
            raise ValueError(f"tokens: expected distinct tokens, got duplicates {duplicates[:5]!r}")
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"tokens: expected non-empty strings, got {token!r}")
        self.tokens: list[str] = tokens
        self.index: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, text: str, level: str = "char", max_size: int | None = None,
              min_count: int = 1) -> "Vocabulary":
        """Counts the tokens of ``text`` and keeps the frequent ones.

        Arguments:
            text: the corpus.
            level: ``"char"`` or ``"word"``.
            max_size: at most this many ids including ``<unk>`` (the most frequent tokens win); None: all.
            min_count: tokens seen fewer times become ``<unk>``.
        Returns:
            A vocabulary ordered by decreasing count, ties by token, so it is the same on every run.
        """
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"max_size: expected an integer >= 2 (<unk> and one token) or None, got {max_size!r}")
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count: expected a positive integer, got {min_count!r}")
        counts = Counter(tokenize(text, level))
        ranked = sorted((t for t, n in counts.items() if n >= min_count and t != UNK),
                        key=lambda t: (-counts[t], t))
        if not ranked:
            raise ValueError(f"text: no token occurs at least min_count={min_count} times "
                             f"({len(text)} characters)")
        if max_size is not None:
            ranked = ranked[:max_size - 1]
        return cls(ranked, level)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and (self.level, self.tokens) == (other.level, other.tokens)

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)})"

    @property
    def unk_id(self) -> int:
        return 0

    def encode(self, text: str) -> torch.Tensor:
        """``text -> LongTensor (N,)`` of ids; unknown tokens become ``<unk>`` (0)."""
        get = self.index.get
        return torch.tensor([get(t, 0) for t in tokenize(text, self.level)], dtype=torch.long)  # (N,)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Ids back to text (``<unk>`` appears literally)."""
        return join_tokens(self.lookup(ids), self.level)

    def lookup(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Ids to tokens; raises ValueError for an id outside ``0 .. V-1``."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        for i in values:
            if not isinstance(i, int) or not 0 <= i < len(self.tokens):
                raise ValueError(f"ids: expected integers in [0, {len(self.tokens)}), got {i!r}")
        return [self.tokens[i] for i in values]

    def piece(self, token_id: int, previous_id: int | None) -> str:
        """The text one generated id adds after the previous one (streaming :meth:`decode`)."""
        previous = None if previous_id is None else self.tokens[previous_id]
        return token_piece(self.tokens[token_id], previous, self.level)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` inverts it."""
        return {"level": self.level, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: Any) -> "Vocabulary":
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list) or "level" not in data:
            raise ValueError(f"vocabulary: expected a dict with 'level' and 'tokens', got {type(data).__name__}")
        if data["tokens"][:1] != [UNK]:
            raise ValueError(f"vocabulary: expected the first token to be {UNK!r}, got {data['tokens'][:1]!r}")
        return cls(data["tokens"][1:], data["level"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        return cls.from_dict(json.loads(text))
