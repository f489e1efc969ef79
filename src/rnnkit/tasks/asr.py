r"""Speech recognition: a CTC recogniser (N -> M) and a spoken-word classifier (N -> 1) on one acoustic encoder.

    x_1 .. x_T     = features(waveform)               log-mel or MFCC frames, normalised   (B, T, F)
                     (+ SpecAugment masks in training)
    z_1 .. z_T'    = relu(conv1d_stride_s(x))         time subsampling, T' = ⌊(T - 1) / s⌋ + 1  (B, T', K)
    h_1 .. h_T'    = BiRNN(z)                         L stacked bidirectional LSTM / GRU layers  (B, T', 2H)

    ctc:   p_t(k)  = softmax(W h_t + b)_k             k = 0 the blank, k >= 1 the symbols       (B, T', 1 + S)
           loss    = -log Σ_{π: B(π) = y} Π_t p_t(π_t)               (rnnkit.nn.ctc)
    word:  s       = pool_t(h_t)                      mean or max over the valid frames         (B, 2H)
           p(y|x)  = softmax(W s + b)                 loss: cross-entropy                       (B, C)

The recurrent layers take each row's ``lengths``, so padding never reaches an output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.audio import AudioFeatures, FeatureConfig, spec_augment, valid_frames
from ..data.speech import AudioBatch, AudioBatches, Utterance
from ..nn import LossOutput
from ..nn.ctc import LanguageModel, ctc_loss, frame_labels, greedy_decode, prefix_beam_search
from ..recurrent import GRU, LSTM
from ._config import check_choice, check_positive, check_rate, config_from_dict

CELLS = {"lstm": LSTM, "gru": GRU}
OUTPUTS = ("ctc", "word")
POOLINGS = ("mean", "max")
KERNEL = 5                                  # the convolution's width in frames


@dataclass(frozen=True)
class AsrConfig:
    """Everything needed to rebuild a :class:`SpeechModel`; saved with its checkpoints.

    Attributes:
        labels: ``ctc``: the S symbols (output k is ``labels[k - 1]``); ``word``: the C class names.
        output: ``ctc`` or ``word``.  features: the :class:`~rnnkit.data.audio.FeatureConfig`.
        conv_channels: K (0: no convolution, T' = T).  conv_stride: s.
        cell: ``lstm`` or ``gru``.  hidden_size: H per direction.  layers: L.  dropout: between and after layers.
        pooling: ``mean`` or ``max`` (``word``).
        freq_masks, freq_width, time_masks, time_width: SpecAugment in training (0 masks: off).
    """

    labels: tuple[str, ...]
    output: str = "ctc"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    conv_channels: int = 64
    conv_stride: int = 2
    cell: str = "lstm"
    hidden_size: int = 128
    layers: int = 2
    dropout: float = 0.2
    pooling: str = "mean"
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 10

    def __post_init__(self):
        if isinstance(self.features, dict):
            object.__setattr__(self, "features", config_from_dict(FeatureConfig, self.features))
        if not isinstance(self.labels, tuple) or len(set(self.labels)) != len(self.labels) or \
                not all(isinstance(x, str) and x for x in self.labels):
            raise ValueError(f"labels: expected a tuple of distinct non-empty strings, got {self.labels!r}")
        check_choice("output", self.output, OUTPUTS)
        if len(self.labels) < (1 if self.output == "ctc" else 2):
            raise ValueError(f"labels: a {self.output} model needs more labels than {list(self.labels)}")
        check_positive(self, "conv_stride", "hidden_size", "layers")
        for name in ("conv_channels", "freq_masks", "freq_width", "time_masks", "time_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        check_choice("cell", self.cell, tuple(CELLS))
        check_choice("pooling", self.pooling, POOLINGS)
        check_rate("dropout", self.dropout)

    @classmethod
    def from_dict(cls, data: dict) -> "AsrConfig":
        return config_from_dict(cls, data)

    @property
    def outputs(self) -> int:
        """1 + S (ctc) or C (word)."""
        return len(self.labels) + (self.output == "ctc")


class SpeechModel(nn.Module):
    """Features -> strided convolution -> bidirectional LSTM/GRU -> CTC outputs or a pooled class (module docstring).

    Arguments:
        config: an :class:`AsrConfig`.

    Parameters: ``conv.*`` (K, F, 5), ``rnn.*`` (torch.nn names), ``output.weight (1+S or C, 2H)``,
    ``output.bias``; buffers ``features.*`` (window, mel matrix, DCT, global statistics).
    """

    def __init__(self, config: AsrConfig):
        super().__init__()
        self.config = config
        self.features = AudioFeatures(config.features)
        width = config.features.size
        if config.conv_channels:
            self.conv = nn.Conv1d(width, config.conv_channels, KERNEL, stride=config.conv_stride, padding=KERNEL // 2)
            width = config.conv_channels
        self.rnn = CELLS[config.cell](width, config.hidden_size, num_layers=config.layers, bidirectional=True,
                                      dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.outputs)

    def encode(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h (B, T', 2H), frames (B,))`` of waveforms ``(B, N)`` with ``lengths (B,)`` samples."""
        c = self.config
        x, frames = self.features(waves, lengths)                                     # (B, T, F), (B,)
        if self.training and (c.freq_masks or c.time_masks):
            x = spec_augment(x, frames, c.freq_masks, c.freq_width, c.time_masks, c.time_width)
        if c.conv_channels:
            x = F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)                  # (B, T', K)
            frames = (frames - 1) // c.conv_stride + 1                                 # (B,)
            x = x * valid_frames(frames, x.shape[1])[:, :, None]
        h, _ = self.rnn(x, lengths=frames)                                             # (B, T', 2H)
        return self.dropout(h), frames

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ctc``: ``(log_probs (B, T', 1 + S), frames (B,))``; ``word``: ``(logits (B, C), frames (B,))``."""
        h, frames = self.encode(waves, lengths)
        if self.config.output == "ctc":
            return self.output(h).log_softmax(-1), frames                              # (B, T', 1+S)
        if self.config.pooling == "mean":
            pooled = h.sum(1) / frames.to(h.dtype)[:, None]                             # (B, 2H)
        else:
            pooled = h.masked_fill(~valid_frames(frames, h.shape[1])[:, :, None], float("-inf")).amax(1)
        return self.output(pooled), frames                                             # (B, C)

    def loss(self, batch: AudioBatch, state=None) -> LossOutput:
        """CTC loss per utterance, or cross-entropy per recording with the batch ``accuracy``."""
        scores, frames = self(batch.waves, batch.lengths)
        if self.config.output == "ctc":
            loss = ctc_loss(scores, frames, batch.targets, batch.target_lengths)
            return LossOutput(loss=loss, count=batch.waves.shape[0])
        accuracy = float((scores.argmax(1) == batch.targets).float().mean())
        return LossOutput(loss=F.cross_entropy(scores, batch.targets), count=batch.waves.shape[0],
                          metrics={"accuracy": accuracy})

    def encode_text(self, text: str) -> int | list[int]:
        """A transcript as a target: its class id (``word``) or its symbol ids 1..S (``ctc``; whitespace
        runs read as one space). Raises ValueError for a label or symbol the model does not know."""
        labels = self.config.labels
        if self.config.output == "word":
            if text not in labels:
                raise ValueError(f"transcript: {text!r} is not one of the model's labels {list(labels)}")
            return labels.index(text)
        unknown = sorted(set(" ".join(text.split())) - set(labels))
        if unknown:
            raise ValueError(f"transcript: symbols {unknown} of {text!r} are not among the model's {list(labels)}")
        return [labels.index(c) + 1 for c in " ".join(text.split())]

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["SpeechModel", dict]:
        """``(model, metadata)`` from a Trainer checkpoint: a run directory (the newest checkpoint that
        verifies and fits), one checkpoint directory, or a loaded :class:`~rnnkit.train.Checkpoint`."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, AsrConfig, device=device)
        return model, checkpoint.metadata


@dataclass(frozen=True)
class Recognition:
    """What a model heard in one recording.

    Attributes:
        text: the transcript (``ctc``) or the label (``word``).
        score: ``ctc``: log p of the best path (greedy) or of the labelling (beam); ``word``: p(label).
        log_probs: ``ctc``: ``(T', 1 + S)`` the frame outputs (for alignments); ``word``: ``(C,)`` log p(class).
    """

    text: str
    score: float
    log_probs: torch.Tensor


def recognize(model: SpeechModel, waves: Sequence[torch.Tensor], beam_size: int = 1, batch_size: int = 32,
              lm: LanguageModel | None = None, lm_weight: float = 0.5) -> list[Recognition]:
    """Transcripts (``ctc``: greedy for ``beam_size`` 1, else prefix beam search with the optional
    character ``lm``) or labels (``word``) of waveforms ``(N_i,)`` at the model's sample rate, in input order."""
    labels = model.config.labels
    device = next(model.parameters()).device
    batches = AudioBatches([Utterance(w) for w in waves], batch_size, shuffle=False)
    found: dict[int, Recognition] = {}
    model.eval()
    with torch.no_grad():
        for indices, batch in zip(batches.batch_indices(), batches):
            batch = batch.to(device)
            scores, frames = model(batch.waves, batch.lengths)
            scores = scores.float().cpu()
            if model.config.output == "word":
                log_p = scores.log_softmax(-1)                                         # (B, C)
                for i, row in zip(indices, log_p):
                    k = int(row.argmax())
                    found[i] = Recognition(labels[k], float(row[k].exp()), row)
                continue
            frames = frames.tolist()
            if beam_size == 1 and lm is None:
                best = [(path, float(row[:n].max(-1).values.sum()))
                        for path, row, n in zip(greedy_decode(scores, torch.tensor(frames)), scores, frames)]
            else:
                best = [prefix_beam_search(row[:n], beam_size, lm=lm, lm_weight=lm_weight)[0]
                        for row, n in zip(scores, frames)]
            for i, row, n, (path, score) in zip(indices, scores, frames, best):
                found[i] = Recognition("".join(labels[k - 1] for k in path), score, row[:n])
    return [found[i] for i in range(len(waves))]


def alignment(model: SpeechModel, wave: torch.Tensor) -> tuple[np.ndarray, list[str], float, float]:
    """What a plot of one recording ``(N,)`` shows: ``(log-mel (T, J), per-output-frame best symbol ("" for
    blank; none for a word model), seconds per feature frame, seconds per output frame)``."""
    c = model.config
    device = next(model.parameters()).device
    waves, lengths = wave[None].to(device), torch.tensor([len(wave)], device=device)
    model.eval()
    with torch.no_grad():
        spectrogram = model.features.log_mel(waves, lengths)[0][0].cpu().numpy()     # (T, J)
        scores, _ = model(waves, lengths)
    labels = frame_labels(scores[0].cpu(), c.labels) if c.output == "ctc" else []
    frame_seconds = c.features.hop_length / c.features.sample_rate
    return spectrogram, labels, frame_seconds, frame_seconds * (c.conv_stride if c.conv_channels else 1)
