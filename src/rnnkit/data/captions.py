r"""Caption files: which image in a folder has which captions, their vocabulary, and family splits.

Two formats, told apart by the suffix:

- **TSV** (any suffix but ``.json``): a header row naming the columns, then one row per image and
  caption. The image is in column ``file`` (or ``image``), a path relative to the images folder;
  the caption in column ``LANG_caption`` (``en_caption``, ``zh_caption``) when the file has one,
  else in ``caption``. Several rows may name the same image: it then has several captions.
  Other columns are kept only when asked for as the group column.
- **JSON**: a list of objects with the same keys, where a caption may also be a list of captions
  (``{"file": "cat.png", "caption": ["a cat", "a small cat"]}``).

Images of one *group* (the same value in a chosen column, e.g. the emoji itself) stay in one split
(:func:`split_by_group`), so a test image's family was never seen in training. Group values are
compared without the emoji skin-tone modifiers U+1F3FB..U+1F3FF and the variation selector U+FE0F,
so every skin tone of an emoji is one family.

Tokens: English by words, Chinese by characters (:data:`LEVELS`); ids ``<unk>`` 0, ``<s>`` 1,
``</s>`` 2 (:func:`rnnkit.data.pairs.build_vocabulary`). :class:`CaptionBatches` pads them into
:class:`CaptionBatch` es of images and ``<s> .. </s>`` targets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from .images import random_shift, to_unit
from .pairs import BOS_ID, EOS_ID, check_vocabulary
from .splits import split_indices
from .textfile import read_text
from .vocab import Vocabulary

IMAGE_KEYS = ("file", "image")
LEVELS = {"en": "word", "zh": "char"}
MAX_FILE_BYTES = 256 * 2 ** 20                      # a caption file larger than this is refused unread
_MODIFIERS = frozenset([*range(0x1F3FB, 0x1F400), 0xFE0F])


@dataclass(frozen=True)
class CaptionedImage:
    """One image and its captions.

    Attributes:
        file: the path relative to the images folder, as the caption file gives it.
        captions: one or more non-empty captions.
        group: the family key (None: the image is its own family).
    """

    file: str
    captions: tuple[str, ...]
    group: str | None = None


def family(value: str) -> str:
    """``value`` without emoji skin-tone modifiers and variation selectors (the group key)."""
    return "".join(ch for ch in value if ord(ch) not in _MODIFIERS)


def read_captions(path: str | Path, images: str | Path, lang: str = "en", group_column: str | None = None,
                  encoding: str = "utf-8") -> list[CaptionedImage]:
    """The images of a caption file (see the module docstring), in the order they first appear.

    Arguments:
        path: the TSV or JSON file.  images: the folder the image paths are relative to.
        lang: picks the caption column ``LANG_caption`` when present (else ``caption``).
        group_column: the column (key) whose values make families, or None.
        encoding: the caption file's text encoding.
    Raises:
        ValueError: a missing or unreadable file, a missing column, an empty caption, an image path
            that is absent or leaves the folder; the message names the file and the line (record).
    """
    path, folder = Path(path), Path(images)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such images folder")
    if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_FILE_BYTES} a caption file may have")
    text = read_text(path, encoding)
    rows = _json_rows(path, text) if path.suffix.lower() == ".json" else _tsv_rows(path, text)
    found: dict[str, tuple[list[str], str | None]] = {}
    resolved_folder = folder.resolve()
    for where, row in rows:
        file = _field(row, IMAGE_KEYS, where, "image path")
        if not isinstance(file, str) or not file.strip():
            raise ValueError(f"{where}: expected an image path, got {file!r}")
        file = file.strip()
        target = (folder / file).resolve()
        if not target.is_relative_to(resolved_folder):
            raise ValueError(f"{where}: image path {file!r} leaves the images folder {folder}")
        if not target.is_file():
            raise ValueError(f"{where}: image {file!r} not found in {folder}")
        captions = _captions(_field(row, (f"{lang}_caption", "caption"), where, "caption"), where)
        group = None
        if group_column is not None:
            value = _field(row, (group_column,), where, "group")
            group = family(str(value)) if value is not None else None
        entry = found.setdefault(file, ([], group))
        entry[0].extend(captions)
    return [CaptionedImage(file, tuple(captions), group) for file, (captions, group) in found.items()]


def _field(row: dict[str, Any], keys: Sequence[str], where: str, what: str) -> Any:
    for key in keys:
        if key in row:
            return row[key]
    raise ValueError(f"{where}: no {what} column; expected one of {list(keys)}, got {sorted(row)}")


def _captions(value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    captions = []
    for caption in values:
        if not isinstance(caption, str):
            raise ValueError(f"{where}: expected a caption string, got {type(caption).__name__}")
        if not caption.strip():
            raise ValueError(f"{where}: empty caption")
        captions.append(" ".join(caption.split()))
    if not captions:
        raise ValueError(f"{where}: no caption")
    return captions


def _tsv_rows(path: Path, text: str) -> list[tuple[str, dict[str, str]]]:
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise ValueError(f"{path}: no header row")
    header = [name.strip() for name in lines[start].split("\t")]
    rows = []
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise ValueError(f"{path}, line {number}: expected {len(header)} tab-separated columns like the "
                             f"header, got {len(values)}: {line[:60]!r}")
        rows.append((f"{path}, line {number}", dict(zip(header, values))))
    if not rows:
        raise ValueError(f"{path}: no caption rows after the header")
    return rows


def _json_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON list of {{\"file\": ..., \"caption\": ...}} objects")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise ValueError(f"{path}, record {index}: expected an object, got {type(record).__name__}")
    return [(f"{path}, record {index}", record) for index, record in enumerate(data)]


def split_by_group(items: Sequence[CaptionedImage], seed: int = 0, dev: float = 0.1,
                   test: float = 0.1) -> tuple[list[CaptionedImage], list[CaptionedImage], list[CaptionedImage]]:
    """Train / dev / test images, whole families at a time.

    The families (images without a group are families of one) in order of first appearance are
    divided by :func:`rnnkit.data.splits.split_indices` with ``seed``, ``dev`` and ``test`` (shares
    of families, not of images); each image goes where its family went, in file order.
    """
    keys: dict[Any, int] = {}
    for index, item in enumerate(items):
        keys.setdefault(item.group if item.group is not None else ("image", index), len(keys))
    parts = split_indices(len(keys), seed, dev, test)
    where = {family_index: part for part, indices in enumerate(parts) for family_index in indices}
    split: tuple[list, list, list] = ([], [], [])
    for index, item in enumerate(items):
        split[where[keys[item.group if item.group is not None else ("image", index)]]].append(item)
    return split


@dataclass
class CaptionBatch:
    """Images and their captions, padded.

    Attributes:
        images: ``float (B, 3, S, S)`` in [0, 1].
        targets: ``(B, T)`` ids ``<s> y_1 .. y_n </s>``, padded with -1.
    """

    images: torch.Tensor
    targets: torch.Tensor

    def to(self, device: torch.device | str) -> "CaptionBatch":
        return CaptionBatch(self.images.to(device, non_blocking=True), self.targets.to(device, non_blocking=True))


def encode_captions(items: Sequence[CaptionedImage], vocab: Vocabulary) -> list[tuple[int, list[int]]]:
    """``(image index, [BOS_ID, ids..., EOS_ID])`` for every caption of every image, in order."""
    check_vocabulary(vocab, "vocab")
    return [(index, [BOS_ID, *vocab.encode(caption).tolist(), EOS_ID])
            for index, item in enumerate(items) for caption in item.captions]


class CaptionBatches:
    """Re-iterable batches of (image, caption) examples.

    Arguments:
        images: ``uint8 (N, 3, S, S)``, the pictures the examples point into.
        examples: ``(image index, caption ids)`` pairs (:func:`encode_captions`).
        batch_size: B.
        shuffle: a fresh order each pass from torch's global generator (which the trainer seeds per epoch).
        shift: with shuffle, each image moved by up to this many pixels (:func:`rnnkit.data.images.random_shift`).
    """

    def __init__(self, images: torch.Tensor, examples: Sequence[tuple[int, list[int]]], batch_size: int,
                 shuffle: bool = True, shift: int = 0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not examples:
            raise ValueError("examples: expected at least one (image, caption) example, got none")
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images: expected uint8 (N, 3, S, S), got {images.dtype} {tuple(images.shape)}")
        self.images, self.examples = images, list(examples)
        self.batch_size, self.shuffle, self.shift = batch_size, shuffle, shift

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def __iter__(self) -> Iterator[CaptionBatch]:
        order = torch.randperm(len(self.examples)).tolist() if self.shuffle else range(len(self.examples))
        order = list(order)
        for begin in range(0, len(order), self.batch_size):
            chosen = [self.examples[i] for i in order[begin:begin + self.batch_size]]
            images = self.images[torch.tensor([index for index, _ in chosen])]               # (B, 3, S, S)
            if self.shuffle:
                images = random_shift(images, self.shift)
            width = max(len(ids) for _, ids in chosen)
            targets = torch.full((len(chosen), width), -1, dtype=torch.long)                 # (B, T)
            for row, (_, ids) in enumerate(chosen):
                targets[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            yield CaptionBatch(to_unit(images), targets)
