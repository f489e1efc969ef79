r"""Handwriting synthesis (Graves 2013): an LSTM/GRU stack with a mixture density output writes pen strokes.

A drawing is a sequence of pen offsets and pen states (:mod:`rnnkit.data.strokes`). With the offsets
divided by a fixed scale s (about their spread in the training data), the writer reads the previous
point and predicts the next:

    x_t   = [Δ_{t-1} / s ; onehot(p_{t-1}) ; e(c)]      x_1 = [0 ; onehot(up) ; e(c)]       (B, T, 5 (+E))
    h_t   = RNN(x_1 .. x_t)                             L stacked LSTM / GRU layers          (B, T, H)
    ŷ_t   = W h_t + b  ->  π, μ, σ, ρ, q                :class:`rnnkit.nn.mdn.MixtureDensity` (B, T, 6M + 3)
    loss  = mean_t [ -log Σ_k π_k N(Δ_t / s | k) + 2 log s - log q_{p_t} ]    nats per point

``2 log s`` (the Jacobian of the scaling) puts the loss in the units of the normalised drawing, so
runs with other scales compare. Conditioning: ``none`` writes freely (unconditional); ``char``
feeds the embedding e(c) of the drawing's label at every step (the 1 -> N pattern of a
class-conditional generator). Writing samples one point at a time from the mixture
(:func:`write`) until the pen state says the drawing ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.strokes import END, PEN_STATES, UP, Drawing, StrokeBatch, from_offsets
from ..nn import LossOutput
from ..nn.mdn import MixtureDensity, point_nll, sample
from ..recurrent import GRU, LSTM
from ._config import check_choice, check_positive, check_rate, config_from_dict

CELLS = {"lstm": LSTM, "gru": GRU}
CONDITIONS = ("none", "char")
INPUT_SIZE = 2 + PEN_STATES


def check_stroke_model(config) -> None:
    """The checks the writers' and the recogniser's configs share: ``labels`` a tuple of distinct non-empty
    strings, ``hidden_size`` (and ``layers`` where it has them) positive, ``cell`` known, ``dropout`` a
    rate, ``offset_scale`` and ``spacing`` finite positive numbers; ValueError naming the field."""
    labels = config.labels
    if not isinstance(labels, tuple) or len(set(labels)) != len(labels) or \
            not all(isinstance(x, str) and x for x in labels):
        raise ValueError(f"labels: expected a tuple of distinct non-empty strings, got {labels!r}")
    check_positive(config, *(name for name in ("hidden_size", "layers") if hasattr(config, name)))
    check_choice("cell", config.cell, tuple(CELLS))
    check_rate("dropout", config.dropout)
    for name in ("offset_scale", "spacing"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{name}: expected a finite positive number, got {value!r}")


@dataclass(frozen=True)
class WriterConfig:
    """Everything needed to rebuild a :class:`Writer`; saved with its checkpoints.

    Attributes:
        labels: the characters it writes (``char``), in id order; () for ``none``.
        conditional: ``none`` or ``char``.  mixtures: M.  cell: ``lstm`` or ``gru``.
        hidden_size: H.  layers: L.  embed_size: E of e(c).  dropout: between layers.
        offset_scale: s.  spacing: the resampling distance of its drawings (in the normalised box).
    """

    labels: tuple[str, ...] = ()
    conditional: str = "none"
    mixtures: int = 20
    cell: str = "lstm"
    hidden_size: int = 256
    layers: int = 2
    embed_size: int = 32
    dropout: float = 0.0
    offset_scale: float = 0.05
    spacing: float = 0.1

    def __post_init__(self):
        check_stroke_model(self)
        check_choice("conditional", self.conditional, CONDITIONS)
        if self.conditional == "char" and not self.labels:
            raise ValueError("labels: a char-conditional writer needs its characters")
        check_positive(self, "mixtures", "embed_size")

    @classmethod
    def from_dict(cls, data: dict) -> "WriterConfig":
        return config_from_dict(cls, data)


def pen_inputs(offsets: torch.Tensor, pens: torch.Tensor, scale: float) -> torch.Tensor:
    """``[Δ / s ; onehot(p)]`` of offsets ``(B, T, 2)`` and pen states ``(B, T)``: ``(B, T, 5)``."""
    return torch.cat([offsets / scale, F.one_hot(pens, PEN_STATES).to(offsets.dtype)], dim=-1)


class StrokeWriter(nn.Module):
    """What every writer shares: the start input, the loss in nats per point, loading. A subclass sets
    ``config_class`` and defines ``forward(x, condition, lengths=None, state=None) -> (params, state)``,
    ``condition(labels, device, parts=None)`` (what :func:`write` feeds it for some characters) and
    ``batch_condition(batch)`` (the same for a training batch)."""

    config_class: type

    def start(self, batch: int, device=None) -> torch.Tensor:
        """``x_1 (B, 1, 5)``: no offset, pen up."""
        x = torch.zeros(batch, 1, INPUT_SIZE, device=device)
        x[:, 0, 2 + UP] = 1.0
        return x

    def point_losses(self, batch: StrokeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(offsets (B, T), pens (B, T))``: each point's ``-log`` density of its offset (normalised units,
        ``2 log s`` included) and ``-log q`` of its pen state; 0 at padding."""
        s = self.config.offset_scale
        x = torch.cat([self.start(len(batch.lengths), batch.offsets.device),
                       pen_inputs(batch.offsets, batch.pens, s)[:, :-1]], dim=1)   # (B, T, 5)
        params, _ = self(x, self.batch_condition(batch), batch.lengths)
        offsets, pens = point_nll(params, batch.offsets / s, batch.pens)           # (B, T), (B, T)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < batch.lengths.to(x.device)[:, None]
        return (offsets + 2 * math.log(s)) * valid, pens * valid

    def loss(self, batch: StrokeBatch, state=None) -> LossOutput:
        """Mean negative log-likelihood per point (nats, normalised units), with its ``offset`` and ``pen`` parts."""
        offsets, pens = self.point_losses(batch)
        count = int(batch.lengths.sum())
        offset_nll, pen_nll = offsets.sum() / count, pens.sum() / count
        return LossOutput(loss=offset_nll + pen_nll, count=count,
                          metrics={"offset_nll": float(offset_nll.detach()), "pen_nll": float(pen_nll.detach())})

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["StrokeWriter", dict]:
        """``(model, metadata)`` from a run directory or checkpoint (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, cls.config_class, device=device)
        return model, checkpoint.metadata


class Writer(StrokeWriter):
    """Previous point (+ character embedding) -> LSTM/GRU stack -> mixture density (module docstring).

    Arguments:
        config: a :class:`WriterConfig`.

    Parameters: ``embedding.weight (C, E)`` (``char``), ``rnn.*`` (torch.nn names), ``head.linear.*``.
    """

    config_class = WriterConfig

    def __init__(self, config: WriterConfig):
        super().__init__()
        self.config = config
        extra = config.embed_size if config.conditional == "char" else 0
        if extra:
            self.embedding = nn.Embedding(len(config.labels), config.embed_size)
        self.rnn = CELLS[config.cell](INPUT_SIZE + extra, config.hidden_size, num_layers=config.layers,
                                      dropout=config.dropout)
        self.head = MixtureDensity(config.hidden_size, config.mixtures, PEN_STATES)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
                state=None):
        """``(params, state)``: the mixture of the next point after each of the inputs ``x (B, T, 5)``.

        Arguments:
            labels: ``(B,)`` character ids (``char``).  lengths: ``(B,)`` valid steps.  state: the RNN state.
        """
        if self.config.conditional == "char":
            e = self.embedding(labels)[:, None, :].expand(-1, x.shape[1], -1)     # (B, T, E)
            x = torch.cat([x, e], dim=-1)                                          # (B, T, 5 + E)
        h, state = self.rnn(x, state=state, lengths=lengths)                       # (B, T, H)
        return self.head(h), state

    def condition(self, labels: Sequence[str] | None, device=None, parts=None) -> torch.Tensor | None:
        """The character ids ``(B,)`` of ``labels`` (``char``), None for a free writer (``labels`` None)."""
        if (labels is None) != (self.config.conditional == "none"):
            raise ValueError("labels: give the characters to a char-conditional writer, and none to a free one")
        return None if labels is None else torch.tensor(label_ids(self.config, labels), device=device)

    def batch_condition(self, batch: StrokeBatch) -> torch.Tensor | None:
        return batch.labels if self.config.conditional == "char" else None


def label_ids(config, text: Sequence[str]) -> list[int]:
    """The ids of the characters of ``text``; ValueError naming those the model does not know."""
    index = {label: k for k, label in enumerate(config.labels)}
    unknown = [c for c in text if c not in index]
    if unknown:
        shown = "".join(config.labels[:40]) + (" ..." if len(config.labels) > 40 else "")
        raise ValueError(f"TEXT: the model cannot write {''.join(dict.fromkeys(unknown))!r}: it was trained on "
                         f"{len(config.labels)} characters ({shown})")
    return [index[c] for c in text]


@torch.no_grad()
def write(model: StrokeWriter, labels: Sequence[str] | None = None, samples: int = 1, temperature: float = 1.0,
          max_points: int = 300, generator: torch.Generator | None = None,
          parts: dict[str, Sequence[str]] | None = None) -> list[Drawing]:
    """Drawings sampled point by point at ``temperature`` (:func:`rnnkit.nn.mdn.sample`).

    Arguments:
        labels: one character per drawing (a conditional writer); None: ``samples`` free drawings.
        max_points: a drawing that has not ended by then is cut there.
        parts: a components-conditional writer: the components of characters it was not trained on.
    Returns:
        the drawings in the normalised box, labelled, in ``labels`` order.
    """
    device = next(model.parameters()).device
    condition = model.condition(labels, device, parts)
    batch = samples if labels is None else len(labels)
    scale = model.config.offset_scale
    model.eval()
    x, state = model.start(batch, device), None
    rows = torch.zeros(batch, max_points, 3)                                       # (B, N, 3)
    done = torch.zeros(batch, dtype=torch.bool)
    for t in range(max_points):
        params, state = model(x, condition, state=state)
        xy, pen = sample(type(params)(*(p[:, -1] for p in params)), temperature, generator)   # (B, 2), (B,)
        rows[:, t, :2], rows[:, t, 2] = xy.cpu() * scale, pen.cpu().float()
        done |= pen.cpu() == END
        if bool(done.all()):
            break
        x = pen_inputs(xy[:, None] * scale, pen[:, None], scale)
    return [from_offsets(rows[b, :t + 1].numpy().astype(np.float64), None if labels is None else labels[b])
            for b in range(batch)]
