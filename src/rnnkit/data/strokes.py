r"""Pen strokes: drawings as point sequences, their geometry, and padded batches of pen offsets.

A :class:`Drawing` is a list of strokes, each an ``(n, 2)`` array of absolute pen positions
``(x, y)`` with ``y`` pointing down (as in SVG and image rows). The models read it as a sequence of
pen offsets with a pen state (the stroke-3 format of sketch-rnn, its end flag as a third state)::

    (Δx_t, Δy_t, p_t)    Δ_t = P_t - P_{t-1}  (P_0 = the origin)
                         p_t = 0 the pen stays down to the next point, 1 it lifts after P_t,
                               2 the drawing ends at P_t

Before that a drawing is normalised (:func:`normalize`: a box's centre at the origin, its larger
side 2 long, so the drawing lies in ``[-1, 1]²``) and resampled at equal arc length
(:func:`resample`), so a model sees the same pen speed everywhere. :func:`augment` draws a small
random affine map and jitter for training; stroke order and direction never change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from .sequences import BucketBatches

DOWN, UP, END = 0, 1, 2
PEN_STATES = 3


@dataclass(frozen=True)
class Drawing:
    """One drawing: its strokes in writing order, and what it shows.

    Attributes:
        strokes: tuple of ``(n_i, 2)`` float64 arrays of pen positions, ``n_i >= 1``.
        label: the character or word it shows, or None.
        components: the parts it is made of (KanjiVG's ``kvg:element`` of the first level), or ().
    """

    strokes: tuple[np.ndarray, ...]
    label: str | None = None
    components: tuple[str, ...] = ()

    def __post_init__(self):
        strokes = tuple(np.asarray(s, dtype=np.float64).reshape(-1, 2) if np.size(s) else np.zeros((0, 2))
                        for s in self.strokes)
        if not strokes or any(len(s) == 0 for s in strokes):
            raise ValueError("strokes: expected at least one stroke, each of at least one point")
        if not all(np.isfinite(s).all() for s in strokes):
            raise ValueError("strokes: expected finite coordinates")
        object.__setattr__(self, "strokes", strokes)
        object.__setattr__(self, "components", tuple(self.components))

    @property
    def points(self) -> int:
        """All points of all strokes."""
        return sum(len(s) for s in self.strokes)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` of all points."""
        every = np.concatenate(self.strokes)
        return (*every.min(0).tolist(), *every.max(0).tolist())

    def map(self, f) -> "Drawing":
        """The drawing with each stroke ``s`` replaced by ``f(s)``."""
        return Drawing(tuple(f(s) for s in self.strokes), self.label, self.components)


def normalize(drawing: Drawing, box: tuple[float, float, float, float] | None = None) -> Drawing:
    """Moves the centre of ``box`` (default: the drawing's bounds) to the origin and scales its larger
    side to 2, the same factor on both axes:  ``P' = (P - c) · 2 / max(w, h)``.

    A fixed box (KanjiVG's 109 x 109 canvas) keeps where and how large a character sits on its page.
    """
    x0, y0, x1, y1 = drawing.bounds() if box is None else box
    side = max(x1 - x0, y1 - y0)
    scale = 2.0 / side if side > 0 else 1.0
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return drawing.map(lambda s: (s - centre) * scale)


def resample_stroke(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """Points at equal arc length along the polyline ``stroke (n, 2)``: both ends kept, ``m = ⌈L / δ⌉ + 1``
    points ``δ' = L / (m - 1) <= δ`` apart along it; a stroke of length 0 becomes one point."""
    if not spacing > 0:
        raise ValueError(f"spacing: expected a positive distance, got {spacing!r}")
    steps = np.linalg.norm(np.diff(stroke, axis=0), axis=1)                  # (n - 1,)
    arc = np.concatenate([[0.0], np.cumsum(steps)])                          # (n,)  s_i
    length = float(arc[-1])
    if length == 0.0:
        return stroke[:1].copy()
    keep = np.concatenate([[True], steps > 0])                               # s strictly increasing
    arc, stroke = arc[keep], stroke[keep]
    where = np.linspace(0.0, length, math.ceil(length / spacing) + 1)        # (m,)
    return np.stack([np.interp(where, arc, stroke[:, 0]), np.interp(where, arc, stroke[:, 1])], axis=1)


def resample(drawing: Drawing, spacing: float) -> Drawing:
    """Every stroke resampled at equal arc length, at most ``spacing`` apart (:func:`resample_stroke`)."""
    return drawing.map(lambda s: resample_stroke(s, spacing))


@dataclass(frozen=True)
class Augment:
    """A random small affine map and jitter, drawn per drawing:  ``P' = A P + t + ε``.

    ``A = R(θ) · [[1, k], [0, 1]] · diag(s_x, s_y)``, ``θ ~ U(±rotate)`` (degrees),
    ``k ~ U(±shear)``, ``s ~ U(1 ± scale)`` per axis, ``t ~ U(±shift)²``, ``ε ~ N(0, jitter²)`` per point.
    """

    scale: float = 0.1
    shear: float = 0.15
    rotate: float = 5.0
    shift: float = 0.05
    jitter: float = 0.005

    def __call__(self, drawing: Drawing, rng: np.random.Generator) -> Drawing:
        theta = math.radians(rng.uniform(-self.rotate, self.rotate))
        rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        shear = np.array([[1.0, rng.uniform(-self.shear, self.shear)], [0.0, 1.0]])
        scale = np.diag(1.0 + rng.uniform(-self.scale, self.scale, size=2))
        a = rotation @ shear @ scale                                                  # (2, 2)
        t = rng.uniform(-self.shift, self.shift, size=2)
        return drawing.map(lambda s: s @ a.T + t + rng.normal(0.0, self.jitter, size=s.shape))


def to_offsets(drawing: Drawing) -> np.ndarray:
    """``(N, 3)`` rows ``(Δx, Δy, p)`` of all N points (module docstring); the first offset is from the origin."""
    every = np.concatenate(drawing.strokes)                                          # (N, 2)
    pens = np.full(len(every), DOWN, dtype=np.float64)
    pens[np.cumsum([len(s) for s in drawing.strokes]) - 1] = UP
    pens[-1] = END
    deltas = np.diff(every, axis=0, prepend=np.zeros((1, 2)))                        # (N, 2)
    return np.concatenate([deltas, pens[:, None]], axis=1)


def from_offsets(offsets: np.ndarray, label: str | None = None) -> Drawing:
    """The drawing of ``(N, 3)`` offsets (the inverse of :func:`to_offsets`); points after the first end are dropped."""
    offsets = np.asarray(offsets, dtype=np.float64)
    pens = offsets[:, 2].astype(int)
    ends = np.flatnonzero(pens == END)
    n = int(ends[0]) + 1 if len(ends) else len(offsets)
    every = np.cumsum(offsets[:n, :2], axis=0)                                       # (n, 2)
    cuts = np.flatnonzero(pens[:n] != DOWN) + 1
    return Drawing(tuple(s for s in np.split(every, cuts) if len(s)), label)


def layout(drawings: Sequence[Drawing], gap: float = 0.2, separator: str = "") -> Drawing:
    """The drawings side by side, left to right, ``gap`` apart (a word from its letters, a line from its
    words); their labels joined by ``separator``."""
    strokes, x = [], 0.0
    for d in drawings:
        x0, _, x1, _ = d.bounds()
        strokes.extend(s + np.array([x - x0, 0.0]) for s in d.strokes)
        x += x1 - x0 + gap
    return Drawing(tuple(strokes), separator.join(d.label or "" for d in drawings))


# ---------------------------------------------------------------------------------------------- batches
@dataclass
class StrokeBatch:
    """A padded batch of offset sequences.

    Attributes:
        offsets: ``(B, T, 2)`` pen offsets (Δx, Δy), 0 at padding.
        pens: ``(B, T)`` pen states (0 down, 1 up, 2 end), 2 at padding.
        lengths: ``(B,)`` points per row.
        labels: ``(B,)`` class ids, or None.
    """

    offsets: torch.Tensor
    pens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "StrokeBatch":
        move = (lambda t: None if t is None else t.to(device, non_blocking=True))
        return StrokeBatch(move(self.offsets), move(self.pens), move(self.lengths), move(self.labels))


def collate_offsets(sequences: Sequence[np.ndarray], labels: Sequence[int] | None = None) -> StrokeBatch:
    """Pads ``(N_b, 3)`` offset arrays into one :class:`StrokeBatch`."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)              # (B,)
    offsets = torch.zeros(len(sequences), int(lengths.max()), 2)                       # (B, T, 2)
    pens = torch.full(offsets.shape[:2], END, dtype=torch.long)                        # (B, T)
    for b, s in enumerate(sequences):
        offsets[b, :len(s)] = torch.from_numpy(s[:, :2]).float()
        pens[b, :len(s)] = torch.from_numpy(s[:, 2]).long()
    return StrokeBatch(offsets, pens, lengths, None if labels is None else torch.tensor(list(labels)))


class StrokeBatches(BucketBatches):
    """Re-iterable padded batches of drawings (already normalised and resampled), similar point counts together.

    Arguments:
        drawings: the drawings.  labels: a class id per drawing, or None.
        batch_size: B.  shuffle: as :class:`~rnnkit.data.sequences.BucketBatches`.
        augment: an :class:`Augment` drawn afresh for every drawing on every pass (its seed comes from
            torch's global generator, which the trainer seeds per epoch), or None.
    """

    def __init__(self, drawings: Sequence[Drawing], labels: Sequence[int] | None, batch_size: int,
                 shuffle: bool = True, augment: Augment | None = None):
        super().__init__(list(drawings), batch_size, shuffle)
        if labels is not None and len(labels) != len(self.examples):
            raise ValueError(f"labels: expected one per drawing ({len(self.examples)}), got {len(labels)}")
        self.labels, self.augment = labels, augment

    def size(self, i: int) -> int:
        return self.examples[i].points

    def __iter__(self) -> Iterator[StrokeBatch]:
        rng = np.random.default_rng(int(torch.randint(0, 2 ** 31, ()))) if self.augment else None
        for indices in self.batch_indices():
            drawings = [self.examples[i] for i in indices]
            if rng is not None:
                drawings = [self.augment(d, rng) for d in drawings]
            yield collate_offsets([to_offsets(d) for d in drawings],
                                  None if self.labels is None else [self.labels[i] for i in indices])
