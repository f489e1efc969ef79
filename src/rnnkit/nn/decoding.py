r"""Batched greedy and beam search for a conditional decoder that stops at an end-of-sequence token.

The decoder is a step function over N rows (N = B for greedy, B * beam_size for beam search)::

    log_probs, state = step(tokens, state)     tokens (N,) the previous outputs (BOS first),
                                               log_probs (N, V) = log p(y_t | y_<t, source)

Every tensor in ``state`` (a tensor, or nested tuples / named tuples / lists / dicts of tensors
and None) has its N rows on dimension 0, so the search can repeat and reorder rows.

Greedy search takes ``y_t = argmax log p(y_t | y_<t)`` until EOS or ``max_len`` tokens.
Beam search keeps the ``beam_size`` prefixes of highest ``Σ_t log p(y_t | y_<t)`` per row; a
hypothesis that ends with EOS is scored with length normalisation (Wu et al. 2016, simplified)::

    score(y) = Σ_t log p(y_t | y_<t) / |y|^α        |y| counts the EOS; α = length_penalty

A row stops when ``beam_size`` hypotheses have ended (among the best ``beam_size`` candidates of
a step, as in fairseq); after ``max_len`` steps the unfinished prefixes compete as they are.
With ``beam_size = 1`` beam search returns exactly the greedy output.

Sampling search draws ``y_t ~ softmax(filter(log p(. | y_<t)))`` with the temperature, top-k and
nucleus (top-p) filter of :func:`rnnkit.nn.sampling.filter_logits`.

Options against dull and repetitive output (conversation):

- repetition penalty θ >= 1 (Keskar et al. 2019, on log-probabilities as in beam search
  implementations): a token the prefix already holds scores ``θ log p(v | y_<t)`` instead of
  ``log p(v | y_<t)`` (log p <= 0, so θ > 1 lowers it); every search takes it.
- anti-language-model decoding (MMI-antiLM, Li et al. 2016): :func:`anti_lm` wraps a step so that
  the searches rank by ``log p(T | S) - λ log U(T)``, ``U(T) = Π_{k <= γ} p_LM(t_k | t_<k)``: tokens a
  source-free language model of replies finds likely anyway (generic openings) lose, and only the
  first γ tokens are penalised, so the rest of the reply stays fluent. The end token is not
  penalised (a language model finds it unlikely early, which would reward empty replies).

A minimum length ``min_len`` keeps EOS out of the first ``min_len`` steps (no empty replies).

``Hypotheses.log_probs`` sums the scores the search ranked by: log p, after these adjustments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import torch

from .sampling import check_sampling, filter_logits

StepFunction = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


@dataclass
class Hypotheses:
    """The chosen output of every row.

    Attributes:
        tokens: ``(B, T)`` ids without BOS and EOS, right-padded with the EOS id; T = max(lengths).
        lengths: ``(B,)`` the number of tokens before EOS (or ``max_len`` without EOS).
        log_probs: ``(B,)`` the output's total log-probability, the EOS's included when it ended.
        max_len: the search's limit; an output of ``max_len`` tokens was cut there without EOS.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    log_probs: torch.Tensor
    max_len: int

    @property
    def ended(self) -> torch.Tensor:
        """``(B,)`` whether each output ended with EOS (False: cut at ``max_len``)."""
        return self.lengths < self.max_len

    def sequences(self) -> list[list[int]]:
        """The outputs as lists of ids (EOS and padding removed)."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths.tolist())]


def map_rows(fn: Callable[[torch.Tensor], torch.Tensor], state: Any) -> Any:
    """Applies ``fn`` to every tensor of a (nested) decoder state; None and non-tensors are kept."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple):
        parts = [map_rows(fn, part) for part in state]
        return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
    if isinstance(state, list):
        return [map_rows(fn, part) for part in state]
    if isinstance(state, dict):
        return {key: map_rows(fn, part) for key, part in state.items()}
    return state


def _check_search(batch_size: int, max_len: int, beam_size: int = 1) -> None:
    for name, value, low in (("batch_size", batch_size, 1), ("max_len", max_len, 1), ("beam_size", beam_size, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")


def penalize_repeats(log_probs: torch.Tensor, history: torch.Tensor, penalty: float) -> torch.Tensor:
    """``log_probs (N, V)`` with every token of the row's ``history (N, t)`` scored ``penalty * log p``
    (the repetition penalty θ of the module docstring; θ = 1 changes nothing)."""
    if penalty == 1.0 or history.shape[-1] == 0:
        return log_probs
    seen = torch.zeros_like(log_probs, dtype=torch.bool).scatter_(1, history, True)   # (N, V)
    return torch.where(seen, log_probs * penalty, log_probs)


def _check_options(repetition_penalty: float, min_len: int, max_len: int) -> None:
    if isinstance(repetition_penalty, bool) or not isinstance(repetition_penalty, (int, float)) \
            or not 1.0 <= repetition_penalty < float("inf"):
        raise ValueError(f"repetition_penalty: expected a finite number >= 1 (1: off), got {repetition_penalty!r}")
    if isinstance(min_len, bool) or not isinstance(min_len, int) or not 0 <= min_len < max_len:
        raise ValueError(f"min_len: expected an integer in [0, max_len={max_len}), got {min_len!r}")


def _forbid_end(scores: torch.Tensor, t: int, min_len: int, eos_id: int) -> torch.Tensor:
    """``scores (N, V)`` with EOS at -inf while fewer than ``min_len`` tokens precede step ``t``."""
    return scores.index_fill(1, torch.tensor([eos_id], device=scores.device), float("-inf")) if t < min_len else scores


def greedy_search(step: StepFunction, state: Any, batch_size: int, *, bos_id: int, eos_id: int,
                  max_len: int, repetition_penalty: float = 1.0, min_len: int = 0) -> Hypotheses:
    """The most probable next token at every step, for all rows at once.

    Arguments:
        step: ``step(tokens (B,), state) -> (log_probs (B, V), state)`` (see the module docstring).
        state: the decoder state after the source (rows on dimension 0).
        batch_size: B.  bos_id: the first input token.  eos_id: the token that ends a row.
        max_len: at most this many tokens per row (EOS included).
        repetition_penalty: θ >= 1.  min_len: no EOS before this many tokens (module docstring).
    Returns:
        :class:`Hypotheses`.
    """
    return _token_by_token(step, state, batch_size, lambda scores: scores.argmax(dim=-1), bos_id=bos_id,
                           eos_id=eos_id, max_len=max_len, repetition_penalty=repetition_penalty, min_len=min_len)


def sample_search(step: StepFunction, state: Any, batch_size: int, *, bos_id: int, eos_id: int, max_len: int,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  repetition_penalty: float = 1.0, min_len: int = 0,
                  generator: torch.Generator | None = None) -> Hypotheses:
    """Draws every next token from the filtered distribution, for all rows at once.

    Arguments:
        step, state, batch_size, bos_id, eos_id, max_len, repetition_penalty, min_len: as :func:`greedy_search`.
        temperature, top_k, top_p: the filter of :func:`rnnkit.nn.sampling.filter_logits`.
        generator: the random source (seeded: the same draws each time); its device is the state's.
    Returns:
        :class:`Hypotheses`.
    """
    check_sampling(temperature, top_k, top_p)

    def draw(scores: torch.Tensor) -> torch.Tensor:
        probs = filter_logits(scores, temperature, top_k, top_p).softmax(-1)           # (B, V)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]                   # (B,)

    return _token_by_token(step, state, batch_size, draw, bos_id=bos_id, eos_id=eos_id, max_len=max_len,
                           repetition_penalty=repetition_penalty, min_len=min_len)


def _token_by_token(step: StepFunction, state: Any, batch_size: int, choose: Callable[[torch.Tensor], torch.Tensor],
                    *, bos_id: int, eos_id: int, max_len: int, repetition_penalty: float, min_len: int) -> Hypotheses:
    """One output per row, token by token: ``y_t = choose(scores (B, V)) (B,)`` until EOS or ``max_len``."""
    _check_search(batch_size, max_len)
    _check_options(repetition_penalty, min_len, max_len)
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=_device(state))   # (B,)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=tokens.device)            # (B,)
    lengths = torch.full((batch_size,), max_len, dtype=torch.long, device=tokens.device)  # (B,)
    log_probs, state = step(tokens, state)                                                # (B, V)
    log_probs_sum = log_probs.new_zeros(batch_size)                                       # (B,)
    outputs: list[torch.Tensor] = []
    for t in range(max_len):
        if t:
            log_probs, state = step(tokens, state)                                        # (B, V)
        history = torch.stack(outputs, dim=1) if outputs else tokens.new_zeros(batch_size, 0)   # (B, t)
        scores = _forbid_end(penalize_repeats(log_probs, history, repetition_penalty), t, min_len, eos_id)  # (B, V)
        tokens = choose(scores)                                                           # (B,)
        best = scores.gather(1, tokens[:, None])[:, 0]                                    # (B,)
        tokens = tokens.masked_fill(finished, eos_id)
        log_probs_sum += best.masked_fill(finished, 0.0)
        ended = (tokens == eos_id) & ~finished
        lengths = torch.where(ended, t, lengths)
        finished |= ended
        outputs.append(tokens)
        if bool(finished.all()):
            break
    width = int(lengths.max())
    return Hypotheses(torch.stack(outputs, dim=1)[:, :width], lengths, log_probs_sum, max_len)  # (B, T)


def beam_search(step: StepFunction, state: Any, batch_size: int, *, bos_id: int, eos_id: int, max_len: int,
                beam_size: int, length_penalty: float = 1.0, repetition_penalty: float = 1.0,
                min_len: int = 0) -> Hypotheses:
    """Batched beam search with length normalisation (see the module docstring).

    Arguments:
        step: ``step(tokens (B*beam_size,), state) -> (log_probs (B*beam_size, V), state)``.
        state: the decoder state after the source for B rows; each row is repeated ``beam_size`` times.
        batch_size: B.  bos_id / eos_id: start and end tokens.  max_len: at most this many tokens (EOS included).
        beam_size: K prefixes kept per row.
        length_penalty: α >= 0 in ``Σ log p / |y|^α`` (0: plain sum, favours short outputs).
        repetition_penalty: θ >= 1.  min_len: no EOS before this many tokens (module docstring).
    Returns:
        :class:`Hypotheses` with the best-scoring output of each row (``log_probs`` is the sum, unnormalised).
    """
    _check_search(batch_size, max_len, beam_size)
    _check_options(repetition_penalty, min_len, max_len)
    if not length_penalty >= 0:
        raise ValueError(f"length_penalty: expected a number >= 0, got {length_penalty!r}")
    B, K = batch_size, beam_size
    device = _device(state)
    state = map_rows(lambda leaf: leaf.repeat_interleave(K, dim=0), state)               # (B*K, ...)
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)               # (B*K,)
    log_probs, state = step(tokens, state)                                               # (B*K, V)
    scores = log_probs.new_zeros(B, K)                                                   # (B, K)
    scores[:, 1:] = float("-inf")             # the K copies of BOS are one prefix: expand only the first
    history = torch.zeros(B, K, 0, dtype=torch.long, device=device)                      # (B, K, t)
    rows = torch.arange(B, device=device)                                                # (B,)
    best_score = scores.new_full((B,), float("-inf"))                                    # (B,) normalised
    best_log_prob = scores.new_full((B,), float("-inf"))                                 # (B,)
    best_tokens = torch.full((B, max_len), eos_id, dtype=torch.long, device=device)      # (B, max_len)
    best_length = torch.full((B,), max_len, dtype=torch.long, device=device)             # (B,)
    ended_count = torch.zeros(B, dtype=torch.long, device=device)                        # (B,)
    done = torch.zeros(B, dtype=torch.bool, device=device)                               # (B,)

    def keep_if_better(candidates: torch.Tensor, log_prob: torch.Tensor, beam: torch.Tensor, length: int) -> None:
        """Rows whose candidate (normalised score ``candidates (B,)``, prefix ``history[b, beam[b]]`` of
        ``length`` tokens, then EOS unless ``length == max_len``) beats their best so far take it."""
        better = candidates > best_score                                                 # (B,)
        if not bool(better.any()):
            return
        prefix = history[rows, beam]                                                     # (B, t)
        best_score[better] = candidates[better]
        best_log_prob[better] = log_prob[better]
        best_tokens[better] = eos_id
        best_tokens[better, :length] = prefix[better]
        best_length[better] = length

    for t in range(max_len):
        if t:
            log_probs, state = step(tokens, state)                                       # (B*K, V)
        log_probs = _forbid_end(penalize_repeats(log_probs, history.reshape(B * K, t), repetition_penalty), t,
                                min_len, eos_id)                                         # (B*K, V)
        vocab = log_probs.shape[-1]
        candidates = (scores[:, :, None] + log_probs.view(B, K, vocab)).view(B, K * vocab)  # (B, K*V)
        top_scores, top_index = candidates.topk(min(2 * K, K * vocab), dim=1)            # (B, 2K)
        top_beam, top_token = top_index // vocab, top_index % vocab                      # (B, 2K)
        is_eos = top_token == eos_id                                                     # (B, 2K)
        # hypotheses ending here: EOS among the K best candidates of a row still searching
        ending = is_eos[:, :K] & torch.isfinite(top_scores[:, :K]) & ~done[:, None]      # (B, K)
        normalised = (top_scores[:, :K] / float(t + 1) ** length_penalty).masked_fill(~ending, float("-inf"))
        row_best, pick = normalised.max(dim=1)                                           # (B,)
        keep_if_better(row_best, top_scores[rows, pick], top_beam[rows, pick], t)
        ended_count += ending.sum(dim=1)
        done |= ended_count >= K
        if bool(done.all()):
            break
        # the K best candidates that do not end go on
        alive, pick = top_scores.masked_fill(is_eos, float("-inf")).topk(K, dim=1)       # (B, K)
        beam, token = top_beam.gather(1, pick), top_token.gather(1, pick)                # (B, K)
        history = torch.cat([history.gather(1, beam[:, :, None].expand(-1, -1, t)), token[:, :, None]], dim=2)
        scores = alive
        order = (beam + rows[:, None] * K).view(-1)                                      # (B*K,)
        state = map_rows(lambda leaf: leaf.index_select(0, order), state)
        tokens = token.view(-1)
    else:
        # max_len reached: rows still searching also consider their unfinished prefixes
        normalised = (scores / float(max_len) ** length_penalty).masked_fill(done[:, None], float("-inf"))
        row_best, pick = normalised.max(dim=1)                                           # (B,)
        keep_if_better(row_best, scores[rows, pick], pick, max_len)
    width = int(best_length.max())
    return Hypotheses(best_tokens[:, :width], best_length, best_log_prob, max_len)


def _device(state: Any) -> torch.device:
    """The device of the first tensor in ``state`` (CPU if none)."""
    found: list[torch.device] = []
    map_rows(lambda leaf: found.append(leaf.device) or leaf, state)
    return found[0] if found else torch.device("cpu")


class AntiLMState(NamedTuple):
    """The state of an :func:`anti_lm` step: the decoder's, the language model's (rows on dimension 0
    in both) and the number of steps taken."""

    decoder: Any
    lm: Any
    steps: int


def anti_lm(step: StepFunction, lm_step: StepFunction, *, weight: float, first: int, eos_id: int) -> StepFunction:
    """A step function scoring ``log p(y_t | y_<t, S) - λ g(t) log p_LM(y_t | y_<t)`` (MMI-antiLM,
    module docstring) for any of the searches; start it from ``AntiLMState(decoder_state, lm_state, 0)``.

    Arguments:
        step: the conditional decoder's step.  lm_step: the source-free language model's step
            (same vocabulary, same token inputs, BOS first).
        weight: λ >= 0.  first: γ >= 1, the tokens penalised (g(t) = 1 for t <= γ, else 0).
        eos_id: the end token, never penalised.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight < float("inf"):
        raise ValueError(f"weight: expected a finite number >= 0, got {weight!r}")
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise ValueError(f"first: expected a positive integer, got {first!r}")

    def scored(tokens: torch.Tensor, state: AntiLMState) -> tuple[torch.Tensor, AntiLMState]:
        log_probs, decoder = step(tokens, state.decoder)                                 # (N, V)
        lm_log_probs, lm = lm_step(tokens, state.lm)                                     # (N, V)
        if state.steps < first:
            penalty = weight * lm_log_probs
            penalty[:, eos_id] = 0.0
            log_probs = torch.where(torch.isfinite(log_probs), log_probs - penalty, log_probs)   # -inf stays
        return log_probs, AntiLMState(decoder, lm, state.steps + 1)

    return scored
