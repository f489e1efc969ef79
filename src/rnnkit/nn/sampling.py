r"""Generating from an autoregressive model one token at a time, carrying its recurrent state.

The model is any module ``model(x (B, T), state) -> (logits (B, T, K), state)`` whose state
leaves put the batch on dimension 1 (``(L, B, H)``, as ``rnnkit.LSTM`` and ``torch.nn.LSTM``).
The prefix is fed once; after that every step feeds only the newest token and the carried
state, so a step costs one time step of the network, never a re-run of the prefix.

Choosing the next token from the logits ``o`` (K,):

    greedy:       argmax_k o_k
    sampling:     p = softmax(o / temperature), restricted to the top_k largest p and to the
                  smallest set of largest p whose sum reaches top_p (nucleus), renormalised
    beam search:  keeps the ``beam_size`` prefixes of highest total log-probability Σ log p
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from ..cells.base import map_state

# allowed(generated) -> BoolTensor (K,) of the tokens allowed next, or None for all of them;
# ``generated`` is the list of ids produced so far (the prefix not included).
Constraint = Callable[[Sequence[int]], "torch.Tensor | None"]


class StatefulDecoder:
    """Feeds a prefix once, then one token per :meth:`advance`, carrying the model's state.

    Arguments:
        model: ``model(x (B, T), state) -> (logits (B, T, K), state)``; put in eval mode by the caller.
        prefix: ``(B, T)`` LongTensor with T >= 1 (a ``(T,)`` prefix is one row).
        state: the state before the prefix (None: the model's zero state).

    Attributes:
        logits: ``(B, K)`` the next-token logits after everything fed so far.
        state: the model state after everything fed so far.
    """

    def __init__(self, model: nn.Module, prefix: torch.Tensor, state: Any = None):
        if prefix.dim() == 1:
            prefix = prefix[None]                                                  # (1, T)
        if prefix.dim() != 2 or prefix.shape[1] < 1:
            raise ValueError(f"prefix: expected at least one token id, shape (B, T) with T >= 1, "
                             f"got shape {tuple(prefix.shape)}")
        self.model = model
        with torch.no_grad():
            logits, self.state = model(prefix, state)                              # (B, T, K)
        self.logits = logits[:, -1]                                                # (B, K)

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feeds ``tokens (B,)`` as the next step and returns the following logits ``(B, K)``."""
        with torch.no_grad():
            logits, self.state = self.model(tokens[:, None], self.state)          # (B, 1, K)
        self.logits = logits[:, 0]                                                 # (B, K)
        return self.logits

    def reorder(self, rows: torch.Tensor) -> None:
        """Keeps the rows ``rows (B',)`` of the state and logits (beam search's survivors)."""
        self.state = map_state(lambda leaf: leaf.index_select(1, rows), self.state)
        self.logits = self.logits.index_select(0, rows)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Scales ``logits (..., K)`` by ``1/temperature`` and sets the tokens outside top-k / top-p to -inf.

    Top-p keeps the smallest set of most probable tokens whose probabilities sum to at least
    ``top_p`` (always at least the most probable one). Returns new logits of the same shape.
    """
    check_sampling(temperature, top_k, top_p)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]                          # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)               # (..., K)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)                          # (..., K)
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p              # mass before k already >= p
        drop = drop_sorted.scatter(-1, order, drop_sorted)                         # back to token order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """ValueError unless temperature > 0, top_k >= 1 and 0 < top_p <= 1 (None: not used)."""
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number (use greedy decoding for the limit 0), "
                         f"got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k: expected a positive integer or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p: expected a probability in (0, 1], got {top_p!r}")


def choose_token(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False, generator: torch.Generator | None = None) -> int:
    """The next token from ``logits (K,)``: the most probable one (``greedy``), else a draw from
    ``softmax(filter_logits(logits, temperature, top_k, top_p))`` (module docstring)."""
    if greedy:
        return int(logits.argmax())
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)           # (K,)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def _apply_constraint(logits: torch.Tensor, allowed: Constraint | None, generated: Sequence[int]) -> torch.Tensor:
    """``logits (K,)`` with the tokens ``allowed`` forbids set to -inf."""
    mask = None if allowed is None else allowed(generated)
    if mask is None:
        return logits
    if not bool(mask.any()):
        raise ValueError(f"allowed: no token is allowed after {len(generated)} generated tokens")
    return logits.masked_fill(~mask.to(logits.device), float("-inf"))


def sample(model: nn.Module, prefix: torch.Tensor, length: int, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
           generator: torch.Generator | None = None, allowed: Constraint | None = None,
           state: Any = None) -> Iterator[int]:
    """Yields ``length`` token ids, one per step, continuing ``prefix (T,)``.

    Arguments:
        model: see the module docstring; should be in eval mode.
        prefix: ``(T,)`` LongTensor, T >= 1: fed once.
        length: how many tokens to generate.
        temperature, top_k, top_p: see :func:`filter_logits`; ignored when ``greedy``.
        greedy: take the most probable token at every step.
        generator: the random source (seeded for reproducible samples).
        allowed: optional constraint ``allowed(generated) -> BoolTensor (K,) | None``.
        state: the model state before the prefix.
    Yields:
        Each new token id as soon as it is chosen (the caller can stream it).
    """
    check_sampling(temperature, top_k, top_p)
    decoder = StatefulDecoder(model, prefix, state)
    generated: list[int] = []
    for _ in range(length):
        logits = _apply_constraint(decoder.logits[0].float(), allowed, generated)    # (K,)
        token = choose_token(logits, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy,
                             generator=generator)
        generated.append(token)
        yield token
        if len(generated) < length:
            decoder.advance(torch.tensor([token], device=prefix.device))


def beam_search(model: nn.Module, prefix: torch.Tensor, length: int, beam_size: int, *,
                allowed: Constraint | None = None, state: Any = None) -> list[int]:
    """The ``length`` tokens after ``prefix (T,)`` of highest total log-probability found by beam search.

    Every step extends each of the ``beam_size`` kept prefixes by every token and keeps the
    ``beam_size`` best sums of log-probabilities (fewer while fewer extensions are allowed).
    The state of a kept prefix is carried, never recomputed. ``beam_size=1`` is greedy decoding.

    Returns:
        The best continuation as a list of ``length`` ids.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size: expected a positive integer, got {beam_size!r}")
    decoder = StatefulDecoder(model, prefix, state)
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1)                                                        # (B',)
    for step in range(length):
        log_probs = torch.stack([_apply_constraint(row.float().cpu(), allowed, beam).log_softmax(-1)
                                 for row, beam in zip(decoder.logits, beams)])    # (B', K)
        total = (scores[:, None] + log_probs).flatten()                            # (B' * K,)
        keep = min(beam_size, int(torch.isfinite(total).sum()))
        scores, flat = total.topk(keep)                                            # (B'',)
        rows, tokens = flat // log_probs.shape[1], flat % log_probs.shape[1]
        beams = [beams[r] + [t] for r, t in zip(rows.tolist(), tokens.tolist())]
        if step + 1 < length:
            decoder.reorder(rows.to(prefix.device))
            decoder.advance(tokens.to(prefix.device))
    return beams[0]
