r"""A word dictionary as a per-character feature of a segmenter (Zhang et al. 2018, "Neural networks
incorporating dictionaries for Chinese word segmentation"): at each position t, which dictionary
words of 2..N characters start or end there.

    m_t = Σ_{n=2..N} 2^{2(n-2)} [c_t ... c_{t+n-1} ∈ D] + 2^{2(n-2)+1} [c_{t-n+1} ... c_t ∈ D]

``m_t`` is one of ``2^{2(N-1)}`` match patterns; the tagger embeds it like a token id.

A dictionary of every training word would fire on every gold word of the training sentences, and
the model would learn to trust it blindly, then meet words outside it at test time; counting only
words seen at least ``min_count`` (2) times leaves the rare words, the in-training stand-ins of
out-of-vocabulary words, without dictionary support. A dictionary from outside the training text (a word
list file, :func:`read_dictionary`) does not have that flaw: it fires on training words and misses
others as it will at test time.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence


class Lexicon:
    """Dictionary words (strings of 2..``max_len`` characters) and the match pattern of each position.

    Arguments:
        words: the dictionary; words outside 2..``max_len`` characters are dropped.
        max_len: N, the longest word matched.
    """

    def __init__(self, words: Iterable[str], max_len: int = 4):
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
            raise ValueError(f"max_len: expected an integer >= 2, got {max_len!r}")
        self.max_len = max_len
        self.words = frozenset(w for w in words if 2 <= len(w) <= max_len)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 2, max_len: int = 4) -> "Lexicon":
        """The words of 2..``max_len`` characters seen at least ``min_count`` times in ``sentences`` (word lists)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count: expected a positive integer, got {min_count!r}")
        counts = Counter(word for words in sentences for word in words)
        return cls((w for w, n in counts.items() if n >= min_count), max_len)

    @property
    def size(self) -> int:
        """The number of match patterns, ``2^{2(N-1)}``."""
        return 2 ** (2 * (self.max_len - 1))

    def patterns(self, chars: Sequence[str]) -> list[int]:
        """``m_t`` for every position of ``chars`` (one-character strings: the normal form the dictionary uses)."""
        text = "".join(chars)
        if len(text) != len(chars):
            raise ValueError("chars: expected one-character tokens (a character-level sentence)")
        found = [0] * len(text)
        for n in range(2, self.max_len + 1):
            starts, ends = 1 << 2 * (n - 2), 1 << 2 * (n - 2) + 1
            for t in range(len(text) - n + 1):
                if text[t:t + n] in self.words:
                    found[t] |= starts
                    found[t + n - 1] |= ends
        return found

    def __len__(self) -> int:
        return len(self.words)

    def to_dict(self) -> dict[str, Any]:
        return {"max_len": self.max_len, "words": sorted(self.words)}

    @classmethod
    def from_dict(cls, data: Any) -> "Lexicon":
        if not isinstance(data, dict) or not isinstance(data.get("words"), list):
            raise ValueError(f"lexicon: expected a dict with 'max_len' and 'words', got {type(data).__name__}")
        return cls(data["words"], data.get("max_len", 4))


def read_dictionary(path: str | Path) -> list[str]:
    """The words of a word-list file: UTF-8, one word per line, the word the first whitespace-separated field
    (so ``word freq tag`` lines of jieba-style dictionaries read as their word); blank lines are skipped.

    Raises ``ValueError`` naming the file (and the line) when it cannot be read, is not UTF-8 or holds no word.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"dictionary {path}: cannot be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ValueError(f"dictionary {path}: line {line} is not UTF-8 text") from None
    words = [line.split()[0] for line in text.splitlines() if line.strip()]
    if not words:
        raise ValueError(f"dictionary {path}: holds no words (expected one word per line)")
    return words
