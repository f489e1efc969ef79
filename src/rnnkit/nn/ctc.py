r"""Connectionist temporal classification (Graves et al. 2006): loss, greedy decoding, prefix beam search.

A network emits, at each of T frames, log-probabilities over C = 1 + |symbols| outputs, output 0
being the blank ∅. A path π ∈ {0..C-1}^T reads as a labelling B(π) by collapsing repeats and then
dropping blanks (``a a ∅ a b b`` -> ``a a b``); the probability of a labelling sums over its paths::

    p(y | x) = Σ_{π : B(π) = y} Π_t p_t(π_t)          loss = -log p(y | x)

(computed by torch's forward-backward, :func:`ctc_loss`). Greedy decoding takes B(argmax_t);
prefix beam search (Hannun et al. 2014) keeps the ``beam_size`` labellings of highest probability,
each prefix with two masses: p_b (its paths end in a blank) and p_nb (they end in its last symbol),
so that a repeated symbol extends the prefix only after a blank. An optional character language
model adds ``lm_weight · log p_LM(c | prefix) + insertion_bonus`` each time a symbol c extends a prefix.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

BLANK = 0
LanguageModel = Callable[[tuple[int, ...], int], float]        # log p(symbol | prefix)


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-log p(y | x)`` (``torch.nn.functional.ctc_loss``, blank 0, impossible
    alignments - a target longer than its frames allow - count 0 instead of infinity).

    Arguments:
        log_probs: ``(B, T, C)`` log-softmax outputs.  lengths: ``(B,)`` valid frames.
        targets: ``(B, M)`` symbol ids in 1..C-1 (padding beyond ``target_lengths`` ignored).
        target_lengths: ``(B,)``.
    Returns:
        The scalar loss per utterance.
    """
    loss = F.ctc_loss(log_probs.transpose(0, 1).float(), targets, lengths, target_lengths, blank=BLANK,
                      reduction="sum", zero_infinity=True)
    return loss / log_probs.shape[0]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """B(argmax): per row, the frame-wise best outputs with repeats collapsed and blanks dropped.

    Arguments:
        log_probs: ``(B, T, C)``.  lengths: ``(B,)`` valid frames.
    Returns:
        One list of symbol ids per row.
    """
    best = log_probs.argmax(-1)                                                    # (B, T)
    previous = F.pad(best, (1, 0), value=BLANK)[:, :-1]                           # (B, T)
    keep = (best != BLANK) & (best != previous)                                    # (B, T)
    keep &= torch.arange(best.shape[1], device=best.device)[None, :] < lengths.to(best.device)[:, None]
    return [row[mask].tolist() for row, mask in zip(best.cpu(), keep.cpu())]


def _add(a: float, b: float) -> float:
    """log(e^a + e^b) of two floats."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def prefix_beam_search(log_probs: torch.Tensor, beam_size: int, lm: LanguageModel | None = None,
                       lm_weight: float = 0.5, insertion_bonus: float = 0.0,
                       prune: float = math.log(1e-4)) -> list[tuple[tuple[int, ...], float]]:
    """The most probable labellings of one utterance (module docstring).

    Arguments:
        log_probs: ``(T, C)`` log-probabilities of the valid frames.
        beam_size: prefixes kept after each frame.
        lm: ``lm(prefix, c) -> log p(c | prefix)`` or None.  lm_weight, insertion_bonus: its weight
            and the bonus per symbol (with or without ``lm``).
        prune: at each frame only symbols of log-probability above ``prune`` extend prefixes.
    Returns:
        ``[(labelling, score), ...]``, at most ``beam_size``, best first; without an LM or bonus the
        score is ``log p(labelling | x)`` summed over the paths the beam kept.
    """
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
        raise ValueError(f"beam_size: expected a positive integer, got {beam_size!r}")
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}   # prefix -> (log p_b, log p_nb)
    for frame in log_probs.double().cpu().tolist():
        blank = frame[BLANK]
        symbols = [c for c in range(1, len(frame)) if frame[c] > prune]
        following: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_b, p_nb) in beams.items():
            total = _add(p_b, p_nb)
            stay = following[prefix]
            stay[0] = _add(stay[0], total + blank)                                # a blank: same prefix
            for c in symbols:
                p = frame[c]
                extended = following[prefix + (c,)]
                bonus = insertion_bonus + (lm_weight * lm(prefix, c) if lm is not None else 0.0)
                if prefix and c == prefix[-1]:
                    stay[1] = _add(stay[1], p_nb + p)                              # repeat collapses
                    extended[1] = _add(extended[1], p_b + p + bonus)               # after a blank: a new symbol
                else:
                    extended[1] = _add(extended[1], total + p + bonus)
        ranked = sorted(following.items(), key=lambda item: -_add(*item[1]))[:beam_size]
        beams = {prefix: (p_b, p_nb) for prefix, (p_b, p_nb) in ranked}
    return sorted(((prefix, _add(*masses)) for prefix, masses in beams.items()), key=lambda item: -item[1])


def frame_labels(log_probs: torch.Tensor, symbols: Sequence[str]) -> list[str]:
    """The per-frame best output of ``log_probs (T, C)`` as text ("" for blank): the alignment a
    spectrogram plot shows under its frames."""
    return ["" if k == BLANK else symbols[k - 1] for k in log_probs.argmax(-1).tolist()]
