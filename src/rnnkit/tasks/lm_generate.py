"""Text in, text out: priming a :class:`~rnnkit.tasks.lm.LanguageModel` and streaming what it writes."""
from __future__ import annotations

from typing import Iterator

import torch

from ..data.vocab import Vocabulary
from ..nn.sampling import Constraint, beam_search, check_sampling, sample


def prime_ids(vocab: Vocabulary, prime: str) -> torch.Tensor:
    """The ids that start generation: ``prime`` encoded, or a newline (else the most frequent token) if empty."""
    ids = vocab.encode(prime)                                                      # (T,)
    if ids.numel():
        return ids
    start = vocab.index.get("\n", 1 if len(vocab) > 1 else 0)
    return torch.tensor([start], dtype=torch.long)                                 # (1,)


def generate_text(model: torch.nn.Module, vocab: Vocabulary, prime: str = "", length: int = 500, *,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  greedy: bool = False, beam: int | None = None, seed: int | None = None,
                  allowed: Constraint | None = None) -> Iterator[str]:
    """Yields the text of ``length`` generated tokens piece by piece (one token each).

    The prime is fed once and every step carries the state (see :mod:`rnnkit.nn.sampling`).
    ``<unk>`` is never generated. With ``beam`` > 1 the whole continuation is searched first and
    then yielded. ``seed`` fixes the samples (None: a fresh random seed).

    Arguments:
        model: a language model ``model(x (B, T), state) -> (logits (B, T, K), state)``.
        vocab: its vocabulary.
        prime: the text to continue (not repeated in the output).
        length: tokens to generate (>= 0).
        temperature, top_k, top_p, greedy: see :func:`rnnkit.nn.sampling.sample`.
        beam: beam width for beam search (1 is greedy decoding; None: sample or ``greedy``).
        allowed: an extra constraint on the next token (e.g. a poem's line pattern).
    """
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"length: expected a non-negative integer, got {length!r}")
    if beam is not None and (not isinstance(beam, int) or beam < 1):
        raise ValueError(f"beam: expected a positive integer, got {beam!r}")
    check_sampling(temperature, top_k, top_p)
    device = next(model.parameters()).device
    prefix = prime_ids(vocab, prime).to(device)                                    # (T,)
    known = torch.ones(len(vocab), dtype=torch.bool)
    known[vocab.unk_id] = False

    def allowed_known(generated):
        extra = None if allowed is None else allowed(generated)
        return known if extra is None else known & extra

    was_training = model.training
    model.eval()
    try:
        if beam is not None and beam > 1:
            tokens = iter(beam_search(model, prefix, length, beam, allowed=allowed_known))
        else:
            generator = torch.Generator()
            generator.manual_seed(seed if seed is not None else int(torch.randint(2**62, ())))
            tokens = sample(model, prefix, length, temperature=temperature, top_k=top_k, top_p=top_p,
                            greedy=greedy or beam == 1, generator=generator, allowed=allowed_known)
        previous = int(prefix[-1]) if prime else None
        for token in tokens:
            yield vocab.piece(token, previous)
            previous = token
    finally:
        model.train(was_training)
