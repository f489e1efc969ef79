r"""Sequence tagging (N -> N): word segmentation, named entities, part of speech.

    x_t = [E[c_t]; F[c_{t-1} c_t]; F[c_t c_{t+1}]; G[m_t]]   char (+ bigram, + dictionary match) embeddings (B, T, I)
    h_t = [h→_t; h←_t] = BiLSTM/BiGRU(x)_t                   L bidirectional layers                        (B, T, 2H)
    e_t = W dropout(h_t) + b                                  emission scores of the K tags                 (B, T, K)

    crf:      p(y | x) = exp(s(y)) / Z with s(y) = Σ_t e_t(y_t) + Σ_t A[y_{t-1}, y_t] (+ start/end)
              (:class:`rnnkit.nn.crf.CRF`; transitions the scheme forbids are impossible),
              loss -log p(y | x) summed over sentences / tokens, prediction by Viterbi
    softmax:  p(y_t | x) = softmax(e_t), cross-entropy per token, prediction argmax_t

The characters are read in the encoder's normal form (:mod:`rnnkit.data.textnorm`), one symbol per
character, so the predicted tags belong to the user's characters; m_t is the pattern of dictionary
words starting and ending at t (:mod:`rnnkit.data.lexicon`).

The loss is per token (``count`` = valid tokens), so batches of different lengths average fairly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.sequences import BucketBatches, Example, SequenceBatch, TokenEncoder
from ..data.tagging import word_spans
from ..nn import LossOutput
from ..nn.crf import CRF, SCHEMES, transition_constraints
from ..recurrent import GRU, LSTM
from ._config import check_choice, check_positive, check_rate, config_from_dict
from .features import TokenFeatures

CELLS = {"lstm": LSTM, "gru": GRU}
DECODERS = ("crf", "softmax")


@dataclass(frozen=True)
class TaggerConfig:
    """Everything needed to rebuild a :class:`Tagger`; saved with its checkpoints.

    Attributes:
        vocab_size: token ids.  tags: the K tag names in id order.
        scheme: ``bmes``, ``bio``, ``bioes`` (the CRF forbids invalid transitions) or None.
        bigram_vocab_size: bigram ids (0: no bigram features).
        lexicon_size: dictionary match patterns (0: no lexicon features).
        cell: ``lstm`` or ``gru``.  embed_size: E.  bigram_embed_size: E_b.  lexicon_embed_size: E_m.
        hidden_size: H per direction.
        layers: L.  dropout: on the embeddings, between layers and before the output layer.
        decoder: ``crf`` or ``softmax``.
    """

    vocab_size: int
    tags: tuple[str, ...]
    scheme: str | None = None
    bigram_vocab_size: int = 0
    cell: str = "lstm"
    embed_size: int = 100
    bigram_embed_size: int = 50
    hidden_size: int = 150
    layers: int = 1
    dropout: float = 0.2
    decoder: str = "crf"
    lexicon_size: int = 0
    lexicon_embed_size: int = 16

    def __post_init__(self):
        check_positive(self, "vocab_size", "embed_size", "bigram_embed_size", "lexicon_embed_size", "hidden_size",
                       "layers")
        if not isinstance(self.tags, tuple) or not self.tags or len(set(self.tags)) != len(self.tags):
            raise ValueError(f"tags: expected a tuple of distinct tag names, got {self.tags!r}")
        if self.scheme is not None:
            check_choice("scheme", self.scheme, SCHEMES)
            transition_constraints(self.tags, self.scheme)                         # every tag fits the scheme
        for name in ("bigram_vocab_size", "lexicon_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        check_choice("cell", self.cell, tuple(CELLS))
        check_choice("decoder", self.decoder, DECODERS)
        check_rate("dropout", self.dropout)

    @classmethod
    def from_dict(cls, data: dict) -> "TaggerConfig":
        return config_from_dict(cls, data)


class Tagger(nn.Module):
    """Embedding (+ bigrams) -> bidirectional LSTM/GRU -> emissions -> CRF or softmax (module docstring).

    Arguments:
        config: a :class:`TaggerConfig`.

    Parameters: ``features.*`` (embeddings), ``rnn.*`` (torch.nn names), ``output.weight (K, 2H)``,
    ``output.bias (K)``, and with the CRF ``crf.transitions (K, K)``, ``crf.start_transitions``,
    ``crf.end_transitions``.
    """

    def __init__(self, config: TaggerConfig):
        super().__init__()
        self.config = config
        self.features = TokenFeatures(config.vocab_size, config.embed_size, config.bigram_vocab_size,
                                      config.bigram_embed_size, config.dropout, config.lexicon_size,
                                      config.lexicon_embed_size)
        self.rnn = CELLS[config.cell](self.features.output_size, config.hidden_size, num_layers=config.layers,
                                      bidirectional=True, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, len(config.tags))
        constraints = transition_constraints(config.tags, config.scheme) if config.scheme else None
        self.crf = CRF(len(config.tags), constraints) if config.decoder == "crf" else None

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, bigrams: torch.Tensor | None = None,
                matches: torch.Tensor | None = None) -> torch.Tensor:
        """Emission scores of every tag at every step.

        Arguments:
            tokens: ``(B, T)`` token ids.  lengths: ``(B,)`` valid steps.  bigrams: ``(B, T, 2)`` or None.
            matches: ``(B, T)`` dictionary match patterns or None.
        Returns:
            ``emissions (B, T, K)`` (rows beyond a length hold the output bias only).
        """
        x = self.features(tokens, bigrams, matches)                                # (B, T, I)
        h, _ = self.rnn(x, lengths=lengths)                                        # (B, T, 2H)
        return self.output(self.dropout(h))                                        # (B, T, K)

    def loss(self, batch: SequenceBatch, state=None) -> LossOutput:
        """Mean negative log-likelihood per valid token; in evaluation also the tag ``accuracy``."""
        emissions = self(batch.tokens, batch.lengths, batch.bigrams, batch.lexicon)  # (B, T, K)
        valid = batch.targets >= 0                                                 # (B, T)
        count = int(valid.sum())
        if self.crf is not None:
            loss = self.crf.neg_log_likelihood(emissions, batch.targets, batch.lengths).sum() / count
        else:
            loss = F.cross_entropy(emissions.flatten(0, 1), batch.targets.flatten(), ignore_index=-1)
        metrics = {}
        if not self.training:
            predicted = self._decode(emissions, batch.lengths)                     # (B, T)
            metrics["accuracy"] = float(((predicted == batch.targets) & valid).sum()) / count
        return LossOutput(loss=loss, count=count, metrics=metrics)

    def predict(self, tokens: torch.Tensor, lengths: torch.Tensor, bigrams: torch.Tensor | None = None,
                matches: torch.Tensor | None = None) -> torch.Tensor:
        """The best tag ids ``(B, T)`` (Viterbi with the CRF, per-step argmax without), -1 at padded steps."""
        with torch.no_grad():
            return self._decode(self(tokens, lengths, bigrams, matches), lengths)

    def _decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.crf is not None:
            return self.crf.decode(emissions, lengths)[0]                          # (B, T)
        valid = torch.arange(emissions.shape[1], device=lengths.device)[None, :] < lengths[:, None]
        return emissions.argmax(-1).masked_fill(~valid, -1)                        # (B, T)

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["Tagger", dict]:
        """``(model, metadata)`` from a Trainer checkpoint: a run directory, one checkpoint directory,
        or a loaded :class:`~rnnkit.train.Checkpoint` (checked, no fallback). From a directory, the
        newest checkpoint that verifies and fits its config and vocabularies is used
        (:func:`rnnkit.train.restore.restore_model`)."""
        from ..train.restore import ENCODER_VOCABULARIES, restore_model

        model, checkpoint = restore_model(source, cls, TaggerConfig, vocabularies=ENCODER_VOCABULARIES,
                                          device=device)
        return model, checkpoint.metadata


def tagging_examples(encoder: TokenEncoder, sentences: Sequence[tuple[Sequence[str], Sequence[str]]],
                     tags: Sequence[str]) -> list[Example]:
    """Encoded ``(tokens, tags)`` sentences; a tag outside ``tags`` raises ValueError."""
    index = {tag: i for i, tag in enumerate(tags)}
    examples = []
    for number, (tokens, sentence_tags) in enumerate(sentences):
        unknown = [t for t in sentence_tags if t not in index]
        if unknown:
            raise ValueError(f"sentences: sentence {number} has the tag {unknown[0]!r}, which the model does not "
                             f"know (tags: {', '.join(tags)})")
        examples.append(encoder.example(tokens, [index[t] for t in sentence_tags]))
    return examples


def tag_sequences(model: Tagger, encoder: TokenEncoder, token_lists: Sequence[Sequence[str]],
                  batch_size: int = 64) -> list[list[str]]:
    """The predicted tag names of each token list, in input order (empty lists give empty results)."""
    results: list[list[str]] = [[] for _ in token_lists]
    kept = [i for i, tokens in enumerate(token_lists) if tokens]
    if not kept:
        return results
    examples = [encoder.example(token_lists[i]) for i in kept]
    batches = BucketBatches(examples, batch_size, shuffle=False)
    device = next(model.parameters()).device
    model.eval()
    for indices, batch in zip(batches.batch_indices(), batches):
        batch = batch.to(device)
        predicted = model.predict(batch.tokens, batch.lengths, batch.bigrams, batch.lexicon).tolist()  # (B, T)
        for row, i in zip(predicted, indices):
            results[kept[i]] = [model.config.tags[k] for k in row[:len(examples[i].ids)]]
    return results


def is_segmenter(model: Tagger, encoder: TokenEncoder) -> bool:
    """Whether the tagger segments words: BMES tags on characters."""
    return model.config.scheme == "bmes" and encoder.vocab.level == "char"


def segment_texts(model: Tagger, encoder: TokenEncoder, texts: Sequence[str],
                  batch_size: int = 64) -> list[list[tuple[int, int]]]:
    """The words of each raw text as ``(start, end)`` offsets into it (:func:`rnnkit.data.tagging.word_spans`):
    a character-level BMES tagger's segmentation; ``text[start:end]`` are the user's characters as typed,
    whatever normal form the model reads."""
    if not is_segmenter(model, encoder):
        raise ValueError(f"model: segmentation needs a character-level BMES tagger, got scheme "
                         f"{model.config.scheme} at {encoder.vocab.level} level")
    token_lists = [encoder.split(text) for text in texts]
    return [word_spans(text, tags) for text, tags in zip(texts, tag_sequences(model, encoder, token_lists, batch_size))]
