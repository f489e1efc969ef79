r"""Spoken strings built from isolated recordings: ``3 1 4`` from three recordings of one digit each.

An utterance of n words (n uniform in ``[min_words, max_words]``) is::

    s_0  g_1 x_1  s_1  g_2 x_2  ...  g_n x_n  s_n   (+ noise at a random SNR)

each x_i a recording of a uniformly drawn label (all from one speaker with probability
``same_speaker``, else from anyone), g_i a gain uniform in ``gain_db`` decibels, and s_i silences
uniform in ``silence`` seconds. The transcript joins the labels (without spaces when every label
is one character: ``"314"``). Build training strings from training recordings and test strings
from test recordings only, so no test recording is ever heard in training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from .speech import AudioBatch, AudioBatches, Utterance


@dataclass(frozen=True)
class StringOptions:
    """How utterances are put together (module docstring).

    Attributes:
        min_words, max_words: words per utterance.
        silence: ``(low, high)`` seconds before, between and after the words.
        gain_db: ``(low, high)`` gain of each word in decibels.
        same_speaker: probability that all words come from one speaker.
        noise_snr_db: ``(low, high)`` signal-to-noise ratio of added white noise, or None for none.
    """

    min_words: int = 1
    max_words: int = 7
    silence: tuple[float, float] = (0.05, 0.3)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    same_speaker: float = 0.5
    noise_snr_db: tuple[float, float] | None = None

    def __post_init__(self):
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"min_words, max_words: expected 1 <= min <= max, got {self.min_words}, {self.max_words}")
        if not 0 <= self.silence[0] <= self.silence[1]:
            raise ValueError(f"silence: expected 0 <= low <= high seconds, got {self.silence}")


@dataclass(frozen=True)
class Word:
    """A recording to build from: its samples ``(N,)``, its label and its speaker."""

    wave: torch.Tensor
    label: str
    speaker: str | None = None


def transcript(labels: Sequence[str]) -> str:
    """The labels joined: without spaces when each is one character, else with spaces."""
    return ("" if all(len(label) == 1 for label in labels) else " ").join(labels)


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _pick(items: Sequence, generator: torch.Generator | None):
    return items[int(torch.randint(len(items), (), generator=generator))]


class StringBuilder:
    """Draws spoken strings from a pool of words (module docstring).

    Arguments:
        words: the pool.  rate: their sample rate.  options: :class:`StringOptions`.
    """

    def __init__(self, words: Sequence[Word], rate: int, options: StringOptions = StringOptions()):
        if not words:
            raise ValueError("words: expected at least one recording to build strings from")
        self.rate, self.options = rate, options
        self.labels = sorted({w.label for w in words})
        self.index: dict[tuple[str | None, str], list[Word]] = {}
        for w in words:
            self.index.setdefault((None, w.label), []).append(w)
            self.index.setdefault((w.speaker, w.label), []).append(w)
        self.speakers = sorted({w.speaker for w in words if w.speaker is not None})

    def draw(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, str]:
        """One utterance ``(samples (N,), transcript)``, drawn from ``generator`` (None: torch's global one)."""
        o = self.options
        count = int(torch.randint(o.min_words, o.max_words + 1, (), generator=generator))
        speaker = None
        if self.speakers and float(torch.rand((), generator=generator)) < o.same_speaker:
            speaker = _pick(self.speakers, generator)
        labels, pieces = [], [self._silence(generator)]
        for _ in range(count):
            label = _pick([x for x in self.labels if (speaker, x) in self.index], generator)
            word = _pick(self.index[(speaker, label)], generator)
            gain = 10.0 ** (_uniform(*o.gain_db, generator) / 20.0)
            labels.append(label)
            pieces += [word.wave * gain, self._silence(generator)]
        wave = torch.cat(pieces)                                                           # (N,)
        if o.noise_snr_db is not None:
            power = wave.pow(2).mean().clamp(min=1e-12)
            snr = 10.0 ** (_uniform(*o.noise_snr_db, generator) / 10.0)
            wave = wave + torch.randn(wave.shape, generator=generator) * (power / snr).sqrt()
        return wave, transcript(labels)

    def _silence(self, generator: torch.Generator | None) -> torch.Tensor:
        return torch.zeros(round(_uniform(*self.options.silence, generator) * self.rate))


class SpokenStrings:
    """Batches of spoken strings: fixed (drawn once from ``seed``: dev and test sets) or fresh at every
    pass (``seed`` None: drawn from torch's global generator, which the trainer seeds per epoch).

    Arguments:
        builder: a :class:`StringBuilder`.  count: utterances per pass.  batch_size: B.
        encode: transcript -> target (symbol ids).  seed: see above.
    """

    def __init__(self, builder: StringBuilder, count: int, batch_size: int, encode: Callable[[str], list[int]],
                 seed: int | None = None):
        self.builder, self.count, self.batch_size, self.encode = builder, count, batch_size, encode
        self.fixed = None if seed is None else self.draw(torch.Generator().manual_seed(seed))

    def draw(self, generator: torch.Generator | None = None) -> list[tuple[torch.Tensor, str]]:
        """``count`` utterances ``(samples, transcript)``."""
        return [self.builder.draw(generator) for _ in range(self.count)]

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __iter__(self) -> Iterator[AudioBatch]:
        pairs = self.fixed if self.fixed is not None else self.draw()
        utterances = [Utterance(wave, self.encode(text)) for wave, text in pairs]
        return iter(AudioBatches(utterances, self.batch_size, shuffle=self.fixed is None))
