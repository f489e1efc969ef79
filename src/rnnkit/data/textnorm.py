r"""Normal forms of characters for a character tagger's input: one symbol per character, so the
tagger's output maps back to the user's characters at the same offsets.

    w(c) = chr(ord(c) - 0xFEE0)   for the full-width forms U+FF01..U+FF5E (Ａ -> A, １ -> 1, ， -> ,)
           " "                    for the ideographic space U+3000
           PUNCTUATION[c]         for quote and middle-dot variants (「 -> “, ・ -> ·)
           c                      otherwise
    n(c) = DIGIT   if w(c) is an ASCII digit          (１９９８年 and 1998年 both read 0000年)
           LATIN   if w(c) is a Latin letter (alphabetic, below U+0250; ＡＰＥＣ and iPhone read aaaa, aaaaaa)
           w(c)    otherwise

Only one-to-one maps are used (NFKC's ``… -> ...`` or ``℃ -> °C`` would move offsets), so
``len(normal_form(tokens)) == len(tokens)`` and the tag of symbol t is the tag of character t. A
corpus written with full-width digits and Latin letters (People's Daily 1998) and text written
with ASCII ones (the web) then look the same to the model, and every number or Latin word of the
same shape shares its statistics (``2023年`` reads like ``1997年``).
"""
from __future__ import annotations

from typing import Sequence

NORMALIZERS = ("width-classes",)
DIGIT, LATIN = "0", "a"
FULL_WIDTH_FIRST, FULL_WIDTH_LAST, FULL_WIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
IDEOGRAPHIC_SPACE = "\u3000"
PUNCTUATION = {"「": "“", "」": "”", "『": "“", "』": "”", '"': "“", "'": "‘",
               "・": "·", "•": "·", "‧": "·"}


def fold_width(char: str) -> str:
    """``w(c)``: the half-width form of a full-width character, the common form of a punctuation variant."""
    code = ord(char)
    if FULL_WIDTH_FIRST <= code <= FULL_WIDTH_LAST:
        return chr(code - FULL_WIDTH_OFFSET)
    if char == IDEOGRAPHIC_SPACE:
        return " "
    return PUNCTUATION.get(char, char)


def char_class(char: str) -> str:
    """``n(c)``: DIGIT for any digit 0-9 (either width), LATIN for a Latin letter, else ``w(c)``."""
    folded = fold_width(char)
    if "0" <= folded <= "9":
        return DIGIT
    if folded.isalpha() and ord(folded) < 0x250:
        return LATIN
    return folded


def normal_form(tokens: Sequence[str], normalizer: str | None) -> list[str]:
    """The model's input symbols of ``tokens``, one per token (``normalizer`` None: the tokens unchanged).

    Arguments:
        tokens: characters (a multi-character token, a word, is mapped character by character).
        normalizer: ``width-classes`` (:func:`char_class`) or None.
    """
    if normalizer is None:
        return list(tokens)
    check_normalizer(normalizer)
    return ["".join(char_class(c) for c in token) for token in tokens]


def check_normalizer(normalizer: str | None) -> None:
    if normalizer is not None and normalizer not in NORMALIZERS:
        raise ValueError(f"normalize: expected one of {', '.join(NORMALIZERS)} or None, got {normalizer!r}")
