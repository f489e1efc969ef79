r"""Attention over a padded batch of encoder outputs: Bahdanau's additive score, Luong's dot and general.

For a query ``q (B, Q)`` (the decoder state) and keys ``k_1 .. k_S (B, S, K)`` (the encoder outputs)::

    bahdanau:       e_s = v^T tanh(W_q q + b + W_k k_s)     (Bahdanau et al. 2015), W_q (A, Q), W_k (A, K)
    luong-dot:      e_s = q^T k_s                          (Luong et al. 2015), needs Q == K
    luong-general:  e_s = q^T W_a k_s                      W_a (Q, K)
    a_s = exp(e_s) / Σ_{s' valid} exp(e_{s'})              padded s: a_s = 0 exactly
    c   = Σ_s a_s k_s                                      the context (B, K)

The key-side products (``W_k k_s``, ``W_a k_s``) do not depend on the query: :meth:`Attention.prepare`
computes them once per source batch and every decoder step reuses them.
"""
from __future__ import annotations

import torch
from torch import nn

SCORES = ("bahdanau", "luong-dot", "luong-general")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis restricted to ``mask``; masked entries get exactly 0.

    Arguments:
        scores: ``(..., S)``.
        mask: ``(..., S)`` booleans, True where valid (every row needs at least one), or None (all valid).
    Returns:
        ``(..., S)`` weights summing to 1 over the valid entries of each row.
    """
    if mask is None:
        return scores.softmax(-1)
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)                  # (..., S)


class Attention(nn.Module):
    """One attention score (see the module docstring) and the context it gives.

    Arguments:
        score: ``"bahdanau"``, ``"luong-dot"`` or ``"luong-general"``.
        query_size: Q.  key_size: K (for ``luong-dot`` it must equal Q).
        attention_size: A, the width of Bahdanau's hidden layer (None: Q); unused by Luong's scores.

    Parameters: bahdanau ``query_proj`` (W_q, b), ``key_proj`` (W_k), ``energy`` (v);
    luong-general ``key_proj`` (W_a); luong-dot none.

    ``forward(query, keys, mask=None, prepared=None) -> (context (B, K), weights (B, S))``.
    """

    def __init__(self, score: str, query_size: int, key_size: int, attention_size: int | None = None):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score: expected one of {', '.join(SCORES)}, got {score!r}")
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if score == "luong-dot" and query_size != key_size:
            raise ValueError(f"key_size: luong-dot scores q^T k and needs key_size == query_size={query_size}, "
                             f"got {key_size} (use luong-general or bahdanau)")
        self.score, self.query_size, self.key_size = score, query_size, key_size
        self.attention_size = attention_size or query_size
        if score == "bahdanau":
            self.query_proj = nn.Linear(query_size, self.attention_size)
            self.key_proj = nn.Linear(key_size, self.attention_size, bias=False)
            self.energy = nn.Linear(self.attention_size, 1, bias=False)
        elif score == "luong-general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """The query-independent half of the score for ``keys (B, S, K)``.

        Returns ``W_k k_s (B, S, A)`` (bahdanau), ``W_a k_s (B, S, Q)`` (luong-general) or ``keys`` (luong-dot).
        """
        if not isinstance(keys, torch.Tensor) or keys.dim() != 3 or keys.shape[-1] != self.key_size:
            got = tuple(keys.shape) if isinstance(keys, torch.Tensor) else type(keys).__name__
            raise ValueError(f"keys: expected shape (B, S, {self.key_size}), got {got}")
        return keys if self.score == "luong-dot" else self.key_proj(keys)

    def scores(self, query: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """The energies ``e (B, S)`` of ``query (B, Q)`` against prepared keys (see :meth:`prepare`)."""
        if self.score == "bahdanau":
            hidden = torch.tanh(self.query_proj(query)[:, None, :] + prepared)     # (B, S, A)
            return self.energy(hidden).squeeze(-1)                                 # (B, S)
        return torch.bmm(prepared, query[:, :, None]).squeeze(-1)                  # (B, S)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                prepared: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The context of ``query`` over ``keys``.

        Arguments:
            query: ``(B, Q)``.
            keys: ``(B, S, K)``, the values averaged too.
            mask: ``(B, S)`` booleans, True at valid source positions (padding False); None: all valid.
            prepared: ``self.prepare(keys)``, to reuse across decoder steps; None computes it.
        Returns:
            ``(context (B, K), weights (B, S))``; each row of ``weights`` sums to 1 and is 0 on padding.
        """
        if not isinstance(query, torch.Tensor) or query.dim() != 2 or query.shape[-1] != self.query_size:
            got = tuple(query.shape) if isinstance(query, torch.Tensor) else type(query).__name__
            raise ValueError(f"query: expected shape (B, {self.query_size}), got {got}")
        if prepared is None:
            prepared = self.prepare(keys)
        if mask is not None and tuple(mask.shape) != tuple(keys.shape[:2]):
            raise ValueError(f"mask: expected shape {tuple(keys.shape[:2])} (B, S), got {tuple(mask.shape)}")
        weights = masked_softmax(self.scores(query, prepared), mask)               # (B, S)
        context = torch.bmm(weights[:, None, :], keys).squeeze(1)                  # (B, K)
        return context, weights

    def extra_repr(self) -> str:
        size = f", attention_size={self.attention_size}" if self.score == "bahdanau" else ""
        return f"{self.score!r}, query_size={self.query_size}, key_size={self.key_size}{size}"
