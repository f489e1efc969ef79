"""The shape of a regulated Tang poem (律詩) as a constraint on generation.

A poem of the ``poems`` corpus is eight lines of seven characters, each line closed by ``，``
(odd lines) or ``。`` (even lines), poems separated by a blank line::

    蕭晨騎馬出皇都，
    聞說埋冤在路隅。
    ...

:func:`poem_constraint` lets the model choose every character while the template fixes where
lines end: positions inside a line allow only CJK ideographs, then the punctuation and the
newline are forced. A stream of poems is one generation of ``poems * poem_length()`` tokens
after the prime :func:`poem_prime`.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..data.vocab import Vocabulary
from ..nn.sampling import Constraint

PUNCTUATION = ("，", "。")


def is_ideograph(token: str) -> bool:
    """True for one CJK ideograph (unified, extension A-G, compatibility)."""
    if len(token) != 1:
        return False
    code = ord(token)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF \
        or 0x20000 <= code <= 0x3134F


def poem_length(line_chars: int = 7, lines: int = 8) -> int:
    """Tokens of one poem and the blank line after it: ``lines * (line_chars + 2) + 1``."""
    return lines * (line_chars + 2) + 1


def poem_prime(context: str = "") -> str:
    """The prime that makes the next character the first of a new poem: ``context`` (default the end
    of a previous poem, ``。``) followed by the blank line that separates poems."""
    return (context.rstrip("\n") or PUNCTUATION[1]) + "\n\n"


def poem_constraint(vocab: Vocabulary, line_chars: int = 7, lines: int = 8) -> Constraint:
    """``allowed(generated)`` for a stream of poems of ``lines`` lines of ``line_chars`` characters.

    Arguments:
        vocab: a character vocabulary holding ``，``, ``。``, a newline and CJK ideographs.
        line_chars: characters per line.  lines: lines per poem (even, so it ends with ``。``).
    Returns:
        A constraint for :func:`rnnkit.nn.sampling.sample`; the stream starts at a poem's first character.
    """
    if vocab.level != "char":
        raise ValueError(f"vocab: a poem template needs a char-level vocabulary, got level {vocab.level!r}")
    if line_chars < 1 or lines < 2 or lines % 2:
        raise ValueError(f"lines/line_chars: expected an even number of lines >= 2 and line_chars >= 1, "
                         f"got lines={lines}, line_chars={line_chars}")
    missing = [t for t in (*PUNCTUATION, "\n") if t not in vocab]
    ideographs = torch.tensor([is_ideograph(t) for t in vocab.tokens])             # (K,)
    if missing or not bool(ideographs.any()):
        raise ValueError(f"vocab: not a Chinese poetry vocabulary (missing {missing or 'CJK ideographs'}); "
                         "train on --corpus poems")

    def only(token: str) -> torch.Tensor:
        mask = torch.zeros(len(vocab), dtype=torch.bool)                          # (K,)
        mask[vocab.index[token]] = True
        return mask

    comma, stop, newline = only(PUNCTUATION[0]), only(PUNCTUATION[1]), only("\n")
    line_length = line_chars + 2

    def allowed(generated: Sequence[int]) -> torch.Tensor:
        position = len(generated) % poem_length(line_chars, lines)
        if position == lines * line_length:
            return newline                                                          # the blank line
        line, column = divmod(position, line_length)
        if column < line_chars:
            return ideographs
        if column == line_chars:
            return comma if line % 2 == 0 else stop
        return newline

    return allowed
