r"""Sequence classification (N -> 1): one label per text, e.g. the sentiment of a review.

    x_t = [E[c_t]; F[c_{t-1} c_t]; F[c_t c_{t+1}]]        token (+ bigram) embeddings          (B, T, I)
    h_1 .. h_n = RNN(x)                                   L layers, D = 2 if bidirectional     (B, T, D*H)
    s = pool(h_1 .. h_n)                                                                       (B, D*H)
        last:       [h→_n; h←_1]  the final states of both directions (each row's last valid step)
        mean:       (1/n) Σ_t h_t
        max:        max_t h_t  (per unit)
        attention:  Σ_t a_t h_t,  a = softmax_t(v^T tanh(W h_t + b))   (Yang et al. 2016; a learned
                    query through :class:`rnnkit.nn.attention.Attention`'s Bahdanau score)
        concat:     [last; max; mean]                             (ULMFiT's concat pooling)  (B, 3*D*H)
    p(y | x) = softmax(W_o dropout(s) + b_o)                                                   (B, C)

Trained on the mean cross-entropy per text. :func:`classifier_from_language_model` starts E and the
RNN from a pretrained :class:`~rnnkit.tasks.lm.LanguageModel` (ULMFiT, Howard & Ruder 2018); its
:meth:`Classifier.layer_groups` (embedding, each recurrent layer, head) are what
:mod:`rnnkit.train.finetune` gives discriminative learning rates and unfreezes gradually.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import state_leaves
from ..data.sequences import BucketBatches, Example, SequenceBatch, TokenEncoder
from ..nn import LossOutput
from ..nn.attention import Attention
from ..recurrent import GRU, LSTM
from ._config import check_choice, check_positive, check_rate, config_from_dict
from .features import TokenFeatures
from .lm import LanguageModel

CELLS = {"lstm": LSTM, "gru": GRU}
POOLINGS = ("last", "mean", "max", "attention", "concat")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a :class:`Classifier`; saved with its checkpoints.

    Attributes:
        vocab_size: token ids.  labels: the C class names in id order.
        bigram_vocab_size: bigram ids (0: no bigram features).
        cell: ``lstm`` or ``gru``.  embed_size: E.  bigram_embed_size: E_b.  hidden_size: H per direction.
        layers: L.  bidirectional: D = 2.  pooling: ``last``, ``mean``, ``max``, ``attention`` or ``concat``.
        dropout: on the embeddings, between layers and on the pooled vector.
    """

    vocab_size: int
    labels: tuple[str, ...]
    bigram_vocab_size: int = 0
    cell: str = "lstm"
    embed_size: int = 100
    bigram_embed_size: int = 50
    hidden_size: int = 128
    layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.3

    def __post_init__(self):
        check_positive(self, "vocab_size", "embed_size", "bigram_embed_size", "hidden_size", "layers")
        if not isinstance(self.labels, tuple) or len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels: expected a tuple of at least two distinct class names, got {self.labels!r}")
        if isinstance(self.bigram_vocab_size, bool) or not isinstance(self.bigram_vocab_size, int) \
                or self.bigram_vocab_size < 0:
            raise ValueError(f"bigram_vocab_size: expected an integer >= 0, got {self.bigram_vocab_size!r}")
        check_choice("cell", self.cell, tuple(CELLS))
        check_choice("pooling", self.pooling, POOLINGS)
        check_rate("dropout", self.dropout)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        return config_from_dict(cls, data)


class Classifier(nn.Module):
    """Embedding (+ bigrams) -> LSTM/GRU -> pooling -> softmax over classes (module docstring).

    Arguments:
        config: a :class:`ClassifierConfig`.

    Parameters: ``features.*``, ``rnn.*`` (torch.nn names), ``output.weight (C, P)``, ``output.bias (C)``
    (P = D*H, 3*D*H with concat pooling); with attention pooling ``query (D*H)`` and ``attention.*`` (W, b, v).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.features = TokenFeatures(config.vocab_size, config.embed_size, config.bigram_vocab_size,
                                      config.bigram_embed_size, config.dropout)
        self.rnn = CELLS[config.cell](self.features.output_size, config.hidden_size, num_layers=config.layers,
                                      bidirectional=config.bidirectional, dropout=config.dropout)
        width = (2 if config.bidirectional else 1) * config.hidden_size
        if config.pooling == "attention":
            self.query = nn.Parameter(torch.empty(width).uniform_(-0.1, 0.1))
            self.attention = Attention("bahdanau", width, width)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(3 * width if config.pooling == "concat" else width, len(config.labels))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, bigrams: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores.

        Arguments:
            tokens: ``(B, T)`` token ids.  lengths: ``(B,)`` valid steps.  bigrams: ``(B, T, 2)`` or None.
        Returns:
            ``logits (B, C)``.
        """
        x = self.features(tokens, bigrams)                                         # (B, T, I)
        h, final = self.rnn(x, lengths=lengths)                                    # (B, T, D*H)
        return self.output(self.dropout(self.pool(h, final, lengths)))             # (B, C)

    def pool(self, h: torch.Tensor, final, lengths: torch.Tensor) -> torch.Tensor:
        """The sequence vector ``s (B, P)`` of outputs ``h (B, T, D*H)`` (zero at padding) and the final state."""
        pooling = self.config.pooling
        if pooling == "concat":
            return torch.cat([self._pool(name, h, final, lengths) for name in ("last", "max", "mean")], dim=1)
        return self._pool(pooling, h, final, lengths)                              # (B, D*H)

    def _pool(self, pooling: str, h: torch.Tensor, final, lengths: torch.Tensor) -> torch.Tensor:
        if pooling == "last":
            h_n = state_leaves(final)[0]                                           # (L*D, B, H)
            directions = 2 if self.config.bidirectional else 1
            return torch.cat(list(h_n[-directions:]), dim=1)                       # (B, D*H)
        valid = torch.arange(h.shape[1], device=h.device)[None, :] < lengths.to(h.device)[:, None]   # (B, T)
        if pooling == "mean":
            return h.sum(1) / lengths.to(h.device, h.dtype)[:, None]               # (B, D*H)
        if pooling == "max":
            return h.masked_fill(~valid[:, :, None], float("-inf")).amax(1)        # (B, D*H)
        query = self.query.expand(h.shape[0], -1)                                  # (B, D*H)
        return self.attention(query, h, valid)[0]                                  # (B, D*H)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The parameters bottom first: the input features, each recurrent layer (both directions), the head."""
        directions = 2 if self.config.bidirectional else 1
        rnn = [[p for d in range(directions) for p in self.rnn.cell(layer, d).parameters()]
               for layer in range(self.config.layers)]
        below = {id(p) for group in [list(self.features.parameters()), *rnn] for p in group}
        head = [p for p in self.parameters() if id(p) not in below]
        return [list(self.features.parameters()), *rnn, head]

    def loss(self, batch: SequenceBatch, state=None) -> LossOutput:
        """Mean cross-entropy per text, with the batch ``accuracy``."""
        logits = self(batch.tokens, batch.lengths, batch.bigrams)                  # (B, C)
        loss = F.cross_entropy(logits, batch.targets)
        accuracy = float((logits.argmax(1) == batch.targets).float().mean())
        return LossOutput(loss=loss, count=batch.targets.shape[0], metrics={"accuracy": accuracy})

    def predict_proba(self, tokens: torch.Tensor, lengths: torch.Tensor,
                      bigrams: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities ``(B, C)``."""
        with torch.no_grad():
            return self(tokens, lengths, bigrams).softmax(-1)

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["Classifier", dict]:
        """``(model, metadata)`` from a Trainer checkpoint: a run directory, one checkpoint directory,
        or a loaded :class:`~rnnkit.train.Checkpoint` (checked, no fallback). From a directory, the
        newest checkpoint that verifies and fits its config and vocabularies is used
        (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import ENCODER_VOCABULARIES, restore_model

        model, checkpoint = restore_model(source, cls, ClassifierConfig, vocabularies=ENCODER_VOCABULARIES,
                                          device=device)
        return model, checkpoint.metadata


def classifier_from_language_model(language_model: LanguageModel, labels: Sequence[str], pooling: str = "concat",
                                   dropout: float = 0.3) -> Classifier:
    """A unidirectional :class:`Classifier` whose embedding E and recurrent stack are copies of a trained
    language model's (token ids as its vocabulary's, no bigram features) under a new head.

    Raises:
        ValueError: a language model the classifier cannot hold (an Elman cell, cell options such as
            ``layer_norm`` or ``proj_size``).
    """
    lm = language_model.config
    if lm.cell not in CELLS or lm.cell_options:
        raise ValueError(f"language_model: expected an LSTM or GRU language model without cell options, got cell "
                         f"{lm.cell!r} with options {lm.cell_options}")
    config = ClassifierConfig(lm.vocab_size, tuple(labels), 0, lm.cell, lm.embed_size, hidden_size=lm.hidden_size,
                              layers=lm.layers, bidirectional=False, pooling=pooling, dropout=dropout)
    model = Classifier(config)
    model.features.embedding.load_state_dict(language_model.embedding.state_dict())
    model.rnn.load_state_dict(language_model.rnn.state_dict())
    return model


def classification_examples(encoder: TokenEncoder, pairs: Sequence[tuple[Sequence[str], str]],
                            labels: Sequence[str]) -> list[Example]:
    """Encoded ``(tokens, label)`` pairs; pairs without tokens are skipped."""
    index = {label: k for k, label in enumerate(labels)}
    examples = []
    for tokens, label in pairs:
        if label not in index:
            raise ValueError(f"pairs: the label {label!r} is not one of the model's labels {list(labels)}")
        if tokens:
            examples.append(Example(*encoder.encode(tokens), index[label]))
    return examples


def classify_tokens(model: Classifier, encoder: TokenEncoder, token_lists: Sequence[Sequence[str]],
                    batch_size: int = 64) -> torch.Tensor:
    """Class probabilities ``(N, C)`` of the token lists in input order; an empty list gets uniform ones."""
    labels = model.config.labels
    probabilities = torch.full((len(token_lists), len(labels)), 1.0 / len(labels))  # (N, C)
    kept = [i for i, tokens in enumerate(token_lists) if tokens]
    if not kept:
        return probabilities
    examples = [Example(*encoder.encode(token_lists[i])) for i in kept]
    batches = BucketBatches(examples, batch_size, shuffle=False)
    device = next(model.parameters()).device
    model.eval()
    for indices, batch in zip(batches.batch_indices(), batches):
        batch = batch.to(device)
        probabilities[[kept[i] for i in indices]] = model.predict_proba(batch.tokens, batch.lengths,
                                                                        batch.bigrams).cpu()
    return probabilities
