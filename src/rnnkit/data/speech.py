"""Labelled recordings for speech tasks: a folder of ``label_*.wav`` files or a TSV manifest; splits; batches.

A folder: every audio file whose name is ``LABEL_SPEAKER_TAKE.wav`` (the Free Spoken Digit Dataset's
``7_jackson_32.wav``) or just ``LABEL_anything.wav``; the transcript is the LABEL. A manifest: lines
``path<TAB>transcript`` (paths relative to the manifest's folder; blank lines and ``#`` comments
skipped). Splits (:func:`split_recordings`): ``takes`` puts takes 0-4 of every speaker and label in
the test set (FSDD's official split), ``speaker:NAME`` holds one speaker out, ``random`` is the
seeded 80/10/10 split of :mod:`rnnkit.data.splits`; the development set is a seeded share of the
rest in each case.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from .audio import resample
from .sequences import BucketBatches
from .splits import DEV_FRACTION, split_items
from .textfile import read_text
from .wav import read_audio

AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
TEST_TAKES = 5                          # FSDD: takes 0-4 of each speaker and digit are the test set


@dataclass(frozen=True)
class Recording:
    """One labelled recording: its file, its transcript, and (from a folder's names) speaker and take."""

    path: Path
    transcript: str
    speaker: str | None = None
    take: int | None = None


def list_recordings(source: str | Path) -> list[Recording]:
    """The recordings of a folder of ``LABEL_*.<audio>`` files (sorted by name) or of a TSV manifest.

    Raises:
        ValueError: naming the folder or manifest (and line): missing, no recordings, a line
            without a tab or with an empty path or transcript, a file name without a label.
    """
    source = Path(source)
    if not source.exists():
        raise ValueError(f"{source}: no such folder or manifest")
    if source.is_dir():
        found = sorted(p for p in source.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not found:
            raise ValueError(f"{source}: no recordings (expected files named LABEL_*.wav, e.g. 7_jackson_32.wav)")
        return [_from_name(path) for path in found]
    recordings = []
    for number, line in enumerate(read_text(source).split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path, tab, transcript = line.partition("\t")
        if not tab or not path.strip() or not transcript.strip():
            raise ValueError(f"{source}:{number}: expected 'path<TAB>transcript', got {line[:80]!r}")
        recordings.append(Recording(source.parent / path.strip(), " ".join(transcript.split())))
    if not recordings:
        raise ValueError(f"{source}: the manifest lists no recordings (expected lines 'path<TAB>transcript')")
    return recordings


def _from_name(path: Path) -> Recording:
    parts = path.stem.split("_")
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"{path}: expected a name LABEL_*{path.suffix} (the label before the first '_'), "
                         f"e.g. 7_jackson_32{path.suffix}")
    take = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    return Recording(path, parts[0], parts[1], take)


def split_recordings(recordings: Sequence[Recording], split: str = "auto", seed: int = 0,
                     dev: float = DEV_FRACTION) -> tuple[list[Recording], list[Recording], list[Recording]]:
    """``(train, dev, test)`` recordings (module docstring).

    Arguments:
        split: ``takes``, ``speaker:NAME``, ``random``, or ``auto`` (``takes`` when every name has a
            take and both parts are non-empty, else ``random``).
        seed: the shuffles.  dev: the share of the non-test recordings held out for development.
    """
    recordings = list(recordings)
    if split == "auto":
        takes = [r.take for r in recordings]
        usable = None not in takes and min(takes) < TEST_TAKES <= max(takes)
        split = "takes" if usable else "random"
    if split == "random":
        return split_items(recordings, seed)
    if split == "takes":
        if any(r.take is None for r in recordings):
            raise ValueError("split: 'takes' needs names LABEL_SPEAKER_TAKE.wav with a numeric take")
        test = [r for r in recordings if r.take < TEST_TAKES]
        rest = [r for r in recordings if r.take >= TEST_TAKES]
    elif split.startswith("speaker:"):
        speaker = split.partition(":")[2]
        test = [r for r in recordings if r.speaker == speaker]
        rest = [r for r in recordings if r.speaker != speaker]
        if not test:
            speakers = sorted({str(r.speaker) for r in recordings})
            raise ValueError(f"split: no recordings of speaker {speaker!r}; the speakers are {speakers}")
    else:
        raise ValueError(f"split: expected auto, takes, random or speaker:NAME, got {split!r}")
    if len(rest) < 2 or not test:
        raise ValueError(f"split: {split} leaves {len(rest)} recordings for train/dev and {len(test)} for test")
    random.Random(seed).shuffle(rest)
    n_dev = max(1, round(dev * len(rest)))
    return rest[n_dev:], rest[:n_dev], test


def load_wave(path: str | Path, rate: int) -> torch.Tensor:
    """The mono samples ``(N,)`` float32 of a recording, resampled to ``rate`` Hz."""
    audio = read_audio(path)
    return resample(torch.from_numpy(audio.samples), audio.rate, rate)


@dataclass
class AudioBatch:
    """A padded batch of waveforms.

    Attributes:
        waves: ``(B, N)`` samples, zero beyond each row's length.  lengths: ``(B,)`` samples per row.
        targets: ``(B,)`` class ids, ``(B, M)`` symbol ids (0 beyond ``target_lengths``), or None.
        target_lengths: ``(B,)`` symbols per row for symbol targets, else None.
    """

    waves: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "AudioBatch":
        move = (lambda t: None if t is None else t.to(device, non_blocking=True))
        return AudioBatch(move(self.waves), move(self.lengths), move(self.targets), move(self.target_lengths))


@dataclass(frozen=True)
class Utterance:
    """One waveform ``(N,)`` and its target: a class id, a list of symbol ids, or None."""

    wave: torch.Tensor
    target: Any = None


def collate_audio(utterances: Sequence[Utterance]) -> AudioBatch:
    """Pads utterances into one :class:`AudioBatch`."""
    lengths = torch.tensor([len(u.wave) for u in utterances], dtype=torch.long)          # (B,)
    waves = torch.zeros(len(utterances), int(lengths.max()))                             # (B, N)
    for b, u in enumerate(utterances):
        waves[b, :len(u.wave)] = u.wave
    first = utterances[0].target
    if first is None:
        return AudioBatch(waves, lengths)
    if isinstance(first, int):
        return AudioBatch(waves, lengths, torch.tensor([u.target for u in utterances], dtype=torch.long))
    target_lengths = torch.tensor([len(u.target) for u in utterances], dtype=torch.long)  # (B,)
    targets = torch.zeros(len(utterances), max(1, int(target_lengths.max())), dtype=torch.long)  # (B, M)
    for b, u in enumerate(utterances):
        targets[b, :len(u.target)] = torch.tensor(u.target, dtype=torch.long)
    return AudioBatch(waves, lengths, targets, target_lengths)


class AudioBatches(BucketBatches):
    """Re-iterable padded batches of :class:`Utterance` s, similar durations together (the bucketing of
    :class:`~rnnkit.data.sequences.BucketBatches`)."""

    def size(self, i: int) -> int:
        return len(self.examples[i].wave)

    def __iter__(self) -> Iterator[AudioBatch]:
        for indices in self.batch_indices():
            yield collate_audio([self.examples[i] for i in indices])
