r"""The input layer of the tagger and the classifier: token embeddings, optionally with bigram embeddings.

    x_t = [E[c_t]]                                          without bigrams      (B, T, E)
    x_t = [E[c_t]; F[c_{t-1} c_t]; F[c_t c_{t+1}]]          with bigrams         (B, T, E + 2 E_b)
    x_t = [...; G[m_t]]                                     with a lexicon       (..., + E_m)

(the bigram ids and the dictionary match patterns m_t come from
:class:`rnnkit.data.sequences.TokenEncoder`), followed by dropout.
"""
from __future__ import annotations

import torch
from torch import nn

class TokenFeatures(nn.Module):
    """Embeddings of token ids (and bigram ids).

    Arguments:
        vocab_size: tokens (id 0 is ``<unk>`` and padding).  embed_size: E.
        bigram_vocab_size: bigram ids, 0 for no bigram features.  bigram_embed_size: E_b.
        dropout: on the concatenated embeddings (training only).
        lexicon_size: dictionary match patterns, 0 for no lexicon features.  lexicon_embed_size: E_m.

    Parameters: ``embedding.weight (V, E)``, ``bigram_embedding.weight (V_b, E_b)`` (with bigrams),
    ``lexicon_embedding.weight (M, E_m)`` (with a lexicon).
    """

    def __init__(self, vocab_size: int, embed_size: int, bigram_vocab_size: int = 0, bigram_embed_size: int = 0,
                 dropout: float = 0.0, lexicon_size: int = 0, lexicon_embed_size: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.bigram_embedding = nn.Embedding(bigram_vocab_size, bigram_embed_size) if bigram_vocab_size else None
        self.lexicon_embedding = nn.Embedding(lexicon_size, lexicon_embed_size) if lexicon_size else None
        self.dropout = nn.Dropout(dropout)
        self.output_size = embed_size + (2 * bigram_embed_size if bigram_vocab_size else 0) + \
            (lexicon_embed_size if lexicon_size else 0)

    def forward(self, tokens: torch.Tensor, bigrams: torch.Tensor | None = None,
                matches: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens (B, T)``, ``bigrams (B, T, 2)`` (needed iff the layer has bigram features) and
        ``matches (B, T)`` (needed iff it has lexicon features) -> ``(B, T, output_size)``."""
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            got = f"{tokens.dtype} tensor of shape {tuple(tokens.shape)}" if isinstance(tokens, torch.Tensor) \
                else type(tokens).__name__
            raise ValueError(f"tokens: expected a LongTensor of token ids (B, T), got {got}")
        x = self.embedding(tokens)                                                 # (B, T, E)
        if self.bigram_embedding is not None:
            if bigrams is None or tuple(bigrams.shape) != (*tokens.shape, 2):
                got = None if bigrams is None else tuple(bigrams.shape)
                raise ValueError(f"bigrams: the model uses bigram features and expects ids of shape "
                                 f"{(*tokens.shape, 2)}, got {got}")
            pairs = self.bigram_embedding(bigrams).flatten(2)                      # (B, T, 2 E_b)
            x = torch.cat([x, pairs], dim=2)                                       # (B, T, E + 2 E_b)
        if self.lexicon_embedding is not None:
            if matches is None or tuple(matches.shape) != tuple(tokens.shape):
                got = None if matches is None else tuple(matches.shape)
                raise ValueError(f"matches: the model uses lexicon features and expects patterns of shape "
                                 f"{tuple(tokens.shape)}, got {got}")
            x = torch.cat([x, self.lexicon_embedding(matches)], dim=2)             # (B, T, ... + E_m)
        return self.dropout(x)

