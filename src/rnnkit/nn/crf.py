r"""Linear-chain conditional random field over K tags (Lafferty et al. 2001; Lample et al. 2016).

For emissions ``e_t(j)`` (the tagger's score of tag j at step t) and a tag path ``y_1 .. y_n``::

    s(y) = start[y_1] + Σ_{t=1..n} e_t(y_t) + Σ_{t=2..n} A[y_{t-1}, y_t] + end[y_n]
    p(y | x) = exp s(y) / Z,     log Z = log Σ_y' exp s(y')

Forward algorithm (log-partition), in the log semiring::

    α_1(j) = start[j] + e_1(j)
    α_t(j) = logsumexp_i (α_{t-1}(i) + A[i, j]) + e_t(j)
    log Z  = logsumexp_j (α_n(j) + end[j])

Viterbi replaces logsumexp by max and keeps back-pointers ``ψ_t(j) = argmax_i (δ_{t-1}(i) + A[i, j])``.

Constraints: a transition, first tag or last tag that the tagging scheme forbids (``M`` after ``S``
in BMES, ``I-PER`` after ``O`` in BIO) gets the score ``IMPOSSIBLE`` (-10^4) instead of its
learnable one, so it never wins Viterbi and carries ~e^-10^4 = 0 of the probability mass.
Padding is on the right, given by ``lengths (B,)``: padded steps leave α and δ unchanged.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

IMPOSSIBLE = -1e4
SCHEMES = ("bmes", "bio", "bioes")


def transition_constraints(tags: Sequence[str], scheme: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which transitions, first tags and last tags a tagging scheme allows.

    Schemes: ``bmes`` (word segmentation: B, M, E, S without types), ``bio`` (IOB2: O, B-X, I-X; an
    entity starts with B), ``bioes`` (O, B-X, I-X, E-X, S-X). Inside an entity of type X only tags of
    type X follow; in BMES/BIOES an open word/entity must be closed by E before the sequence ends.

    Arguments:
        tags: the K tag names in id order.
        scheme: one of ``bmes``, ``bio``, ``bioes``.
    Returns:
        ``(allowed (K, K), allowed_start (K,), allowed_end (K,))`` boolean tensors;
        ``allowed[i, j]`` says whether tag j may follow tag i.
    Raises:
        ValueError: unknown scheme, or a tag that does not belong to it.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    parsed = [_parse_tag(tag, scheme) for tag in tags]
    may_end = {"O", "E", "S"} if scheme != "bio" else {"O", "B", "I"}
    may_start = {"O", "B", "S"}
    continues = {"I", "E"} if scheme != "bio" else {"I"}                    # need the entity before to be open
    allowed = torch.zeros(len(tags), len(tags), dtype=torch.bool)
    for i, (prev, prev_type) in enumerate(parsed):
        for j, (nxt, nxt_type) in enumerate(parsed):
            if nxt in continues:
                ok = prev in {"B", "I"} and prev_type == nxt_type
            else:
                ok = scheme == "bio" or prev in {"O", "E", "S"}
            allowed[i, j] = ok
    allowed_start = torch.tensor([prefix in may_start for prefix, _ in parsed])
    allowed_end = torch.tensor([prefix in may_end for prefix, _ in parsed])
    return allowed, allowed_start, allowed_end


def _parse_tag(tag: str, scheme: str) -> tuple[str, str]:
    """``(prefix, type)``: BMES maps B, M, E, S to BIOES's B, I, E, S with an empty type."""
    if scheme == "bmes":
        prefix = {"B": "B", "M": "I", "E": "E", "S": "S"}.get(tag)
        if prefix is None:
            raise ValueError(f"tags: scheme 'bmes' expects the tags B, M, E, S, got {tag!r}")
        return prefix, ""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    valid = {"B", "I"} if scheme == "bio" else {"B", "I", "E", "S"}
    if not dash or prefix not in valid or not kind:
        raise ValueError(f"tags: scheme {scheme!r} expects O or {'/'.join(sorted(valid))}-TYPE, got {tag!r}")
    return prefix, kind


class CRF(nn.Module):
    """A linear-chain CRF layer: log-likelihood of tag paths and Viterbi decoding (see the module docstring).

    Arguments:
        num_tags: K.
        constraints: ``(allowed (K, K), allowed_start (K,), allowed_end (K,))`` from
            :func:`transition_constraints`, or None for no constraints.

    Parameters: ``transitions (K, K)`` (A, row = previous tag), ``start_transitions (K,)``,
    ``end_transitions (K,)``, initialised uniformly in [-0.1, 0.1]. The constraints are buffers
    rebuilt from the constructor arguments (not saved in the state dict).
    """

    def __init__(self, num_tags: int, constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        if not isinstance(num_tags, int) or isinstance(num_tags, bool) or num_tags < 1:
            raise ValueError(f"num_tags: expected a positive integer, got {num_tags!r}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        if constraints is None:
            constraints = (torch.ones(num_tags, num_tags, dtype=torch.bool), torch.ones(num_tags, dtype=torch.bool),
                           torch.ones(num_tags, dtype=torch.bool))
        allowed, allowed_start, allowed_end = constraints
        expected = ((num_tags, num_tags), (num_tags,), (num_tags,))
        if tuple(tuple(c.shape) for c in constraints) != expected:
            raise ValueError(f"constraints: expected boolean tensors of shapes {expected}, "
                             f"got {tuple(tuple(c.shape) for c in constraints)}")
        self.register_buffer("allowed", allowed.bool(), persistent=False)
        self.register_buffer("allowed_start", allowed_start.bool(), persistent=False)
        self.register_buffer("allowed_end", allowed_end.bool(), persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(A (K, K), start (K,), end (K,))`` with forbidden entries set to ``IMPOSSIBLE``."""
        return (self.transitions.masked_fill(~self.allowed, IMPOSSIBLE),
                self.start_transitions.masked_fill(~self.allowed_start, IMPOSSIBLE),
                self.end_transitions.masked_fill(~self.allowed_end, IMPOSSIBLE))

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log Z`` of every sequence by the forward algorithm.

        Arguments:
            emissions: ``(B, T, K)`` scores e_t(j).  lengths: ``(B,)`` valid steps per row (None: all T).
        Returns:
            ``(B,)`` float32 (or float64 for float64 emissions).
        """
        emissions, valid = self._check(emissions, lengths)
        transitions, start, end = self.scores()
        alpha = start + emissions[:, 0]                                            # (B, K)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha[:, :, None] + transitions, dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where(valid[:, t, None], step, alpha)                    # (B, K)
        return torch.logsumexp(alpha + end, dim=1)                                 # (B,)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor,
                   lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``s(y)`` of the given tag paths.

        Arguments:
            emissions: ``(B, T, K)``.  tags: ``(B, T)`` tag ids (any value at padded steps).
            lengths: ``(B,)`` valid steps per row (None: all T).
        Returns:
            ``(B,)`` path scores.
        """
        emissions, valid = self._check(emissions, lengths)
        tags = self._check_tags(tags, valid)
        transitions, start, end = self.scores()
        emitted = emissions.gather(2, tags[:, :, None]).squeeze(2)                 # (B, T)
        moved = transitions[tags[:, :-1], tags[:, 1:]]                             # (B, T-1)
        last = tags.gather(1, (valid.sum(1, keepdim=True) - 1)).squeeze(1)         # (B,)
        return (start[tags[:, 0]] + (emitted * valid).sum(1) + (moved * valid[:, 1:]).sum(1)
                + end[last])                                                        # (B,)

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor,
                           lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``-log p(y | x) = log Z - s(y)`` per sequence, ``(B,)``; the training loss (sum or mean it)."""
        return self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)

    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The most probable tag path of every sequence (Viterbi).

        Arguments:
            emissions: ``(B, T, K)``.  lengths: ``(B,)`` valid steps per row (None: all T).
        Returns:
            ``(tags (B, T) long, scores (B,))``: the best paths, ``-1`` at padded steps, and their s(y).
        """
        emissions, valid = self._check(emissions, lengths)
        batch, time, num_tags = emissions.shape
        identity = torch.arange(num_tags, device=emissions.device).expand(batch, num_tags)   # (B, K)
        with torch.no_grad():
            transitions, start, end = self.scores()
            delta = start + emissions[:, 0]                                        # (B, K)
            pointers = []
            for t in range(1, time):
                best, best_prev = (delta[:, :, None] + transitions).max(dim=1)     # (B, K) each
                keep = valid[:, t, None]                                           # (B, 1)
                delta = torch.where(keep, best + emissions[:, t], delta)           # (B, K)
                pointers.append(torch.where(keep, best_prev, identity))            # (B, K)
            scores, tag = (delta + end).max(dim=1)                                 # (B,) each
            path = [tag]
            for back in reversed(pointers):
                tag = back.gather(1, tag[:, None]).squeeze(1)                      # (B,)
                path.append(tag)
            tags = torch.stack(path[::-1], dim=1)                                  # (B, T)
        return tags.masked_fill(~valid, -1), scores

    def _check(self, emissions: torch.Tensor, lengths) -> tuple[torch.Tensor, torch.Tensor]:
        """Validates ``emissions (B, T, K)`` and ``lengths``; returns float emissions and ``valid (B, T)``."""
        if not isinstance(emissions, torch.Tensor) or emissions.dim() != 3 or emissions.shape[2] != self.num_tags \
                or emissions.shape[1] == 0:
            got = tuple(emissions.shape) if isinstance(emissions, torch.Tensor) else type(emissions).__name__
            raise ValueError(f"emissions: expected shape (B, T, K={self.num_tags}) with T >= 1, got {got}")
        if emissions.dtype not in (torch.float32, torch.float64):
            emissions = emissions.float()
        batch, time = emissions.shape[:2]
        steps = torch.arange(time, device=emissions.device)
        if lengths is None:
            return emissions, torch.ones(batch, time, dtype=torch.bool, device=emissions.device)
        lengths = torch.as_tensor(lengths, device=emissions.device)
        if lengths.shape != (batch,) or lengths.is_floating_point() or int(lengths.min()) < 1 \
                or int(lengths.max()) > time:
            raise ValueError(f"lengths: expected {batch} integers in [1, T={time}], got {lengths.tolist()}")
        return emissions, steps[None, :] < lengths[:, None]                       # (B, T)

    def _check_tags(self, tags: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if not isinstance(tags, torch.Tensor) or tags.shape != valid.shape or tags.is_floating_point():
            got = tuple(tags.shape) if isinstance(tags, torch.Tensor) else type(tags).__name__
            raise ValueError(f"tags: expected integer tag ids of shape {tuple(valid.shape)}, got {got}")
        tags = tags.masked_fill(~valid, 0).long()                                  # padded steps: any id
        if int(tags.min()) < 0 or int(tags.max()) >= self.num_tags:
            raise ValueError(f"tags: expected ids in [0, {self.num_tags}) at valid steps, "
                             f"got min {int(tags.min())} and max {int(tags.max())}")
        return tags

    def extra_repr(self) -> str:
        constrained = int((~self.allowed).sum()) + int((~self.allowed_start).sum()) + int((~self.allowed_end).sum())
        return f"num_tags={self.num_tags}, forbidden={constrained}"
