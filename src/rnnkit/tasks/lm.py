r"""The recurrent language model (char-rnn): embedding, a SimpleRNN/LSTM/GRU stack, output layer V.

For a token stream ``w_1 .. w_N`` it models ``p(w_{t+1} | w_1 .. w_t)``::

    e_t = E[w_t]                                   embedding           (B, T, E)
    h_t = RNN(dropout(e_t), h_{t-1})               L stacked layers    (B, T, R)
    o_t = dropout(h_t) V^T + c                     output layer        (B, T, K)
    p(w_{t+1} = k | w_{<=t}) = softmax(o_t)_k

and is trained on the mean cross-entropy ``-1/N Σ_t log p(w_{t+1})`` in nats per token. With
``tie_weights`` the output layer reuses the embedding matrix, ``V = E`` (Press & Wolf 2017),
which needs ``embed_size == R`` (R = ``proj_size`` or ``hidden_size``).

AWD-LSTM's regularisers (Merity et al. 2017), all off by default: ``embedding_dropout`` drops whole
rows of E (every occurrence of a token together), ``locked_dropout`` makes every dropout above one
mask per sequence ``(B, 1, F)``, ``weight_drop`` is DropConnect on each layer's ``weight_hh``, and in
training the loss adds ``ar · mean(dropout(h_t)²) + tar · mean((h_t - h_{t-1})²)`` over the last
layer's outputs (AR on the dropped, TAR on the undropped ones). Validation scores the cross-entropy alone.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.vocab import Vocabulary
from ..nn import LossOutput
from ..nn.dropout import EmbeddingDropout, LockedDropout
from ..nn.losses import activation_penalty, temporal_activation_penalty
from ..recurrent import GRU, LSTM, SimpleRNN

CELLS = {"srn": SimpleRNN, "lstm": LSTM, "gru": GRU}
# The metadata entry of a checkpoint that holds the vocabulary, and the config field its size must equal.
VOCABULARIES = {"vocabulary": "vocab_size"}


@dataclass(frozen=True)
class LanguageModelConfig:
    """Everything needed to rebuild a :class:`LanguageModel`; saved with its checkpoints.

    Attributes:
        vocab_size: K, the number of token ids.
        cell: ``"srn"`` (Elman), ``"lstm"`` or ``"gru"``.
        embed_size: E.  hidden_size: H.  layers: L stacked recurrent layers.
        dropout: on the embeddings, between layers and before the output layer (training only).
        tie_weights: share the embedding matrix with the output layer (needs E == R).
        recurrent_dropout / zoneout: the recurrent layers' regularisers (see ``rnnkit.LSTM``).
        cell_options: more cell options (``forget_bias``, ``layer_norm``, ``proj_size``, ...).
        embedding_dropout: rate of dropping whole embedding rows (token ids) in training.
        locked_dropout: ``dropout`` draws one mask per sequence, the same at every step (on the
            embeddings, between layers, before the output layer), instead of one per element.
        weight_drop: DropConnect rate on every recurrent layer's ``weight_hh`` (one mask per call).
        ar / tar: weights α, β of the activation and temporal activation penalties (training loss only).
    """

    vocab_size: int
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 256
    layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    cell_options: dict[str, Any] = field(default_factory=dict)
    embedding_dropout: float = 0.0
    locked_dropout: bool = False
    weight_drop: float = 0.0
    ar: float = 0.0
    tar: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "embed_size", "hidden_size", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("dropout", "embedding_dropout", "weight_drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: expected a rate in [0, 1), got {value!r}")
        for name in ("ar", "tar"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not isinstance(self.locked_dropout, bool):
            raise ValueError(f"locked_dropout: expected True or False, got {self.locked_dropout!r}")
        if not isinstance(self.cell_options, dict):
            raise ValueError(f"cell_options: expected a dict, got {type(self.cell_options).__name__}")
        output_size = self.cell_options.get("proj_size") or self.hidden_size
        if self.tie_weights and self.embed_size != output_size:
            raise ValueError(f"tie_weights: the output layer V must have the embedding's shape, so embed_size "
                             f"must equal the recurrent output size {output_size}; got embed_size={self.embed_size}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LanguageModelConfig":
        """The inverse of ``dataclasses.asdict``; ValueError for unknown or missing fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"config: unknown LanguageModelConfig fields {unknown}")
        return cls(**data)


class LanguageModel(nn.Module):
    """Embedding + recurrent stack + output layer V (see the module docstring for the equations).

    Arguments:
        config: a :class:`LanguageModelConfig`.

    Parameters: ``embedding.weight (K, E)``, the recurrent layer's (torch.nn names under ``rnn.``),
    ``output_weight (K, R)`` (absent when tied: the embedding is used) and ``output_bias (K)``.
    """

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.rnn = CELLS[config.cell](config.embed_size, config.hidden_size, num_layers=config.layers,
                                      dropout=config.dropout, recurrent_dropout=config.recurrent_dropout,
                                      zoneout=config.zoneout, weight_drop=config.weight_drop,
                                      locked_dropout=config.locked_dropout, **config.cell_options)
        output_size = self.rnn.output_size
        self.output_weight = None if config.tie_weights else nn.Parameter(torch.empty(config.vocab_size, output_size))
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dropout = LockedDropout(config.dropout) if config.locked_dropout else nn.Dropout(config.dropout)
        self.embedding_dropout = EmbeddingDropout(config.embedding_dropout)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if self.output_weight is not None:
            nn.init.uniform_(self.output_weight, -0.1, 0.1)

    @property
    def decoder_weight(self) -> torch.Tensor:
        """V ``(K, R)``: the output layer's weight (the embedding matrix when tied)."""
        return self.embedding.weight if self.output_weight is None else self.output_weight

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Next-token logits for every position.

        Arguments:
            x: ``(B, T)`` token ids in ``[0, K)``.
            state: the recurrent state to start from (``(L, B, H)``, LSTM ``LSTMState``); None is zeros.
        Returns:
            ``(logits (B, T, K), final_state)``; feed ``final_state`` back to continue the streams.
        """
        _, _, logits, state = self._chunk(x, state)                               # (B, T, K)
        return logits, state

    def rnn_input(self, batch: Any) -> torch.Tensor:
        """What the recurrent stack reads from a stream batch: the embedded ``batch.x``, ``(B, T, E)``
        (with :meth:`step_losses`, the hooks of :func:`rnnkit.diagnostics.diagnose`)."""
        return self.embed(batch.x)

    def step_losses(self, outputs: torch.Tensor, batch: Any) -> torch.Tensor:
        """The cross-entropy of each next-token prediction: ``outputs (B, T, R) -> (B, T)`` against ``batch.y``."""
        return F.cross_entropy(self.logits(outputs).transpose(1, 2), batch.y, reduction="none")   # (B, T)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``e_t = E[w_t]``: token ids ``(B, T)`` to the recurrent stack's input ``(B, T, E)``."""
        if self.config.embedding_dropout:
            return self.dropout(self.embedding_dropout(self.embedding.weight, x))  # (B, T, E)
        return self.dropout(self.embedding(x))                                     # (B, T, E)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``o_t = h_t V^T + c``: the stack's outputs ``(B, T, R)`` to next-token logits ``(B, T, K)``."""
        return self._readout(self.dropout(hidden))                                 # (B, T, K)

    def _readout(self, dropped: torch.Tensor) -> torch.Tensor:
        """The output layer on the dropped outputs ``(B, T, R)``: logits ``(B, T, K)``."""
        return F.linear(dropped, self.decoder_weight, self.output_bias)

    def _chunk(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
        """One stretch of the streams: ``(h (B, T, R), dropout(h), logits (B, T, K), final_state)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected a LongTensor of token ids (B, T), got {got}")
        hidden, state = self.rnn(self.embed(x), state)                             # (B, T, R)
        dropped = self.dropout(hidden)                                             # (B, T, R)
        return hidden, dropped, self._readout(dropped), state

    def loss(self, batch: Any, state: Any = None) -> LossOutput:
        """Mean cross-entropy in nats per target token of a stream batch.

        Arguments:
            batch: has ``x (B, T)`` inputs and ``y (B, T)`` next-token targets; optionally
                ``loss_from`` (the loss covers ``y[:, loss_from:]``) and ``state_at`` (the state
                to carry is the one after ``x[:, :state_at]``), as :class:`~rnnkit.data.streams.Batch`.
            state: the state carried from the previous chunk of the same streams, or None.
        Returns:
            ``LossOutput(loss, count, state)`` with ``count`` target tokens; in training ``loss`` adds
            the AR and TAR penalties (over all T steps) when ``ar`` / ``tar`` are set.
        """
        x, y = batch.x, batch.y
        loss_from = getattr(batch, "loss_from", 0)
        state_at = getattr(batch, "state_at", None)
        state_at = x.shape[1] if state_at is None else state_at
        if 0 < state_at < x.shape[1]:
            head = self._chunk(x[:, :state_at], state)                             # (B, state_at, .)
            carry = head[3]
            tail = self._chunk(x[:, state_at:], carry)                             # (B, T - state_at, .)
            hidden, dropped, logits = (torch.cat(pair, dim=1) for pair in zip(head[:3], tail[:3]))   # (B, T, .)
        else:
            hidden, dropped, logits, final = self._chunk(x, state)                # (B, T, .)
            carry = state if state_at == 0 else final                              # 0: the next window restarts here
        targets = y[:, loss_from:]                                                 # (B, T')
        loss = F.cross_entropy(logits[:, loss_from:].reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if self.training and self.config.ar:
            loss = loss + activation_penalty(dropped, self.config.ar)
        if self.training and self.config.tar:
            loss = loss + temporal_activation_penalty(hidden, self.config.tar)
        return LossOutput(loss=loss, count=targets.numel(), state=carry)

    @classmethod
    def from_checkpoint(cls, checkpoint: Any, device: str | torch.device = "cpu") -> "LanguageModel":
        """Rebuilds a model the Trainer saved (safetensors + JSON; nothing is unpickled), in eval mode.

        From a directory, the newest checkpoint that verifies and fits is used (weights of the shapes
        its config gives, a ``vocabulary`` in the metadata of ``vocab_size`` tokens); see
        :func:`rnnkit.train.restore.restore_model`.

        Arguments:
            checkpoint: a run directory, a checkpoint directory, or a loaded
                :class:`rnnkit.train.Checkpoint` (e.g. to read its metadata too; checked, no fallback).
            device: where to put the model.
        Raises:
            ValueError: no checkpoint fits.
        """
        from ..train.restore import restore_model

        model, _ = restore_model(checkpoint, cls, LanguageModelConfig, vocabularies=VOCABULARIES, device=device)
        return model


def checkpoint_vocabulary(checkpoint: Any) -> Vocabulary:
    """The vocabulary a language-model checkpoint was trained with; ValueError for another task's."""
    if checkpoint.metadata.get("task") != "lm" or "vocabulary" not in checkpoint.metadata:
        raise ValueError(f"{checkpoint.path}: not a language-model run (no vocabulary in its metadata)")
    return Vocabulary.from_dict(checkpoint.metadata["vocabulary"])


def load_language_model(source: Any, device: str | torch.device = "cpu") -> tuple[LanguageModel, Vocabulary, Any]:
    """``(model in eval mode, vocabulary, checkpoint)`` of a language-model run directory, checkpoint
    directory or loaded checkpoint: the newest checkpoint that verifies and fits, an older one if the
    newest is damaged (:func:`rnnkit.train.restore.restore_model`)."""
    from ..train.restore import restore_model

    model, checkpoint = restore_model(source, LanguageModel, LanguageModelConfig, vocabularies=VOCABULARIES,
                                      device=device)
    return model, checkpoint_vocabulary(checkpoint), checkpoint


def perplexity_metrics(nats: float) -> dict[str, float]:
    """From a mean cross-entropy in nats per token: ``{"nats", "bits" (= nats / ln 2), "perplexity" (= e^nats)}``."""
    return {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(min(nats, 700.0))}
