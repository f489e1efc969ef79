"""Text to tokens and back, at the character or the word level.

Character level: every character is a token (newlines included); joining is concatenation,
so ``join_tokens(tokenize(text)) == text`` exactly.

Word level: a token is a word (letters, digits, ``_`` and inner apostrophes: ``bewitch'd``),
one punctuation mark, or a newline; other whitespace is dropped. Joining puts one space
between tokens except around newlines and before closing punctuation, so the text reads
naturally but spacing is normalised.
"""
from __future__ import annotations

import re
from typing import Iterable

LEVELS = ("char", "word")

_WORD = re.compile(r"\n|\w+(?:'\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}”’»…")
_NO_SPACE_AFTER = frozenset("([{“‘«\n")


def check_level(level: str) -> str:
    """Returns ``level`` if it is ``"char"`` or ``"word"``; otherwise raises ValueError."""
    if level not in LEVELS:
        raise ValueError(f"level: expected one of {', '.join(LEVELS)}, got {level!r}")
    return level


def tokenize(text: str, level: str = "char") -> list[str]:
    """Splits ``text`` into tokens of the given ``level`` (see the module docstring)."""
    if check_level(level) == "char":
        return list(text)
    return _WORD.findall(text)


def token_piece(token: str, previous: str | None, level: str = "char") -> str:
    """The text that ``token`` adds after ``previous`` (None at the start): the streaming form of joining."""
    if level == "char" or previous is None or token == "\n" or token in _NO_SPACE_BEFORE \
            or previous in _NO_SPACE_AFTER:
        return token
    return " " + token


def join_tokens(tokens: Iterable[str], level: str = "char") -> str:
    """Joins tokens back into text: the inverse of :func:`tokenize` (word level: up to spacing)."""
    check_level(level)
    pieces, previous = [], None
    for token in tokens:
        pieces.append(token_piece(token, previous, level))
        previous = token
    return "".join(pieces)
