r"""Online handwriting recognition (N -> 1): the pen's trajectory -> the character it wrote.

The drawing is normalised on its own bounds (position and size do not matter), resampled at the
model's spacing, and read as offsets with pen states:

    x_t   = [Δ_t / s ; onehot(p_t)]                          (B, T, 5)
    h_t   = BiRNN(x_1 .. x_T)                                L bidirectional LSTM / GRU layers   (B, T, 2H)
    v     = max_t h_t                                        over each row's valid steps        (B, 2H)
    p(c)  = softmax(W dropout(v) + b)                        cross-entropy loss                  (B, C)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.strokes import Drawing, StrokeBatch, StrokeBatches, normalize, resample
from ..nn import LossOutput
from ._config import config_from_dict
from .handwriting import CELLS, INPUT_SIZE, check_stroke_model, pen_inputs


@dataclass(frozen=True)
class RecognizerConfig:
    """Everything needed to rebuild a :class:`Recognizer`; saved with its checkpoints.

    Attributes:
        labels: the C characters, in id order.  cell: ``lstm`` or ``gru``.  hidden_size: H per direction.
        layers: L.  dropout: between layers and before the output.  offset_scale: s.
        spacing: the resampling distance (in the normalised box).
    """

    labels: tuple[str, ...]
    cell: str = "lstm"
    hidden_size: int = 128
    layers: int = 2
    dropout: float = 0.2
    offset_scale: float = 0.05
    spacing: float = 0.1

    def __post_init__(self):
        check_stroke_model(self)
        if len(self.labels) < 2:
            raise ValueError(f"labels: a recogniser needs at least two characters, got {list(self.labels)}")

    @classmethod
    def from_dict(cls, data: dict) -> "RecognizerConfig":
        return config_from_dict(cls, data)


class Recognizer(nn.Module):
    """Offsets and pen states -> bidirectional LSTM/GRU -> max over time -> softmax over characters.

    Arguments:
        config: a :class:`RecognizerConfig`.

    Parameters: ``rnn.*`` (torch.nn names), ``output.weight (C, 2H)``, ``output.bias (C)``.
    """

    def __init__(self, config: RecognizerConfig):
        super().__init__()
        self.config = config
        self.rnn = CELLS[config.cell](INPUT_SIZE, config.hidden_size, num_layers=config.layers, bidirectional=True,
                                      dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, len(config.labels))

    def forward(self, batch: StrokeBatch) -> torch.Tensor:
        """Character scores ``(B, C)`` of a batch."""
        x = pen_inputs(batch.offsets, batch.pens, self.config.offset_scale)           # (B, T, 5)
        h, _ = self.rnn(x, lengths=batch.lengths)                                     # (B, T, 2H)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < batch.lengths.to(x.device)[:, None]
        v = h.masked_fill(~valid[:, :, None], float("-inf")).amax(1)                  # (B, 2H)
        return self.output(self.dropout(v))                                           # (B, C)

    def loss(self, batch: StrokeBatch, state=None) -> LossOutput:
        """Mean cross-entropy per drawing, with the batch ``accuracy``."""
        logits = self(batch)
        accuracy = float((logits.argmax(1) == batch.labels).float().mean())
        return LossOutput(loss=F.cross_entropy(logits, batch.labels), count=len(batch.lengths),
                          metrics={"accuracy": accuracy})

    def prepare(self, drawing: Drawing) -> Drawing:
        """``drawing`` as the model reads it: normalised on its bounds, resampled at its spacing."""
        return resample(normalize(drawing), self.config.spacing)

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["Recognizer", dict]:
        """``(model, metadata)`` from a run directory or checkpoint (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, RecognizerConfig, device=device)
        return model, checkpoint.metadata


@torch.no_grad()
def recognize(model: Recognizer, drawings: Sequence[Drawing], batch_size: int = 64) -> torch.Tensor:
    """Character probabilities ``(N, C)`` of ``drawings`` (any position and size), in input order."""
    model.eval()
    device = next(model.parameters()).device
    batches = StrokeBatches([model.prepare(d) for d in drawings], None, batch_size, shuffle=False)
    probabilities = torch.zeros(len(drawings), len(model.config.labels))
    for indices, batch in zip(batches.batch_indices(), batches):
        probabilities[indices] = model(batch.to(device)).softmax(-1).cpu()
    return probabilities


def top_k_accuracy(probabilities: torch.Tensor, gold: Sequence[int], k: int) -> float:
    """Share of rows whose gold id is among the k most probable."""
    top = probabilities.topk(min(k, probabilities.shape[1]), dim=1).indices                 # (N, k)
    return float((top == torch.tensor(list(gold))[:, None]).any(1).float().mean())
