r"""Replying with a trained :class:`~rnnkit.tasks.chatbot.Chatbot`, and scoring replies.

:class:`Responder` holds the model, its vocabulary and how it reads a conversation (the last
``turns`` turns, each cut to its last ``max_len`` tokens; saved as checkpoint metadata) and turns
conversations into replies, one line each.

Scores of replies ``r_1 .. r_M`` against the human replies, by characters:

    BLEU-2     corpus BLEU of unigrams and bigrams (sacrebleu, ``char`` tokens; Papineni et al. 2002)
    distinct-n = |distinct character n-grams over all replies| / |characters of all replies|   (Li et al. 2016)
    length     the mean number of characters per reply

A model that answers everything with the same few words has a low distinct-n, however well it
matches the commonest replies.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..data.dialogue import clean_turn, context_ids, pad_context
from ..data.pairs import check_vocabulary
from ..data.sequences import Example
from ..data.vocab import Vocabulary
from .chatbot import Chatbot, ChatbotConfig, Decoding


class Responder:
    """Conversations in, replies out.

    Arguments:
        model: a :class:`Chatbot`; it decodes in eval mode and is left in the mode it had.
        vocab: the vocabulary it was trained with (:func:`rnnkit.data.pairs.build_vocabulary`).
        turns: how many of the last turns it reads (the query included).
        max_len: each turn is cut to its last ``max_len`` tokens (None: not cut).
    """

    def __init__(self, model: Chatbot, vocab: Vocabulary, turns: int, max_len: int | None = None):
        if not isinstance(model, Chatbot):
            raise ValueError(f"model: expected a rnnkit Chatbot, got {type(model).__name__}")
        self.vocab = check_vocabulary(vocab, "vocab")
        if len(vocab) != model.config.src_vocab_size:
            raise ValueError(f"vocab: expected {model.config.src_vocab_size} tokens (the model's), got {len(vocab)}")
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise ValueError(f"turns: expected a positive integer, got {turns!r}")
        self.model, self.turns, self.max_len = model, turns, max_len

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str | torch.device = "cpu") -> "Responder":
        """The model, vocabulary and context options of a run or checkpoint directory (the newest
        checkpoint that fits; see :func:`rnnkit.train.restore.restore_model`), or of a loaded
        :class:`~rnnkit.train.Checkpoint`."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(checkpoint, Chatbot, ChatbotConfig, device=device,
                                          vocabularies={"vocab": "src_vocab_size"})
        metadata = checkpoint.metadata
        if not {"vocab", "turns"} <= metadata.keys():
            raise ValueError(f"run_dir: expected a run of `rnnkit train chatbot`, got a checkpoint without its "
                             f"vocabulary and turns in {checkpoint.path}")
        return cls(model, Vocabulary.from_dict(metadata["vocab"]), metadata["turns"], metadata.get("max_len"))

    @property
    def device(self) -> torch.device:
        return self.model.output.weight.device

    def encode(self, context: Sequence[str]) -> list[int]:
        """The ids the model reads for a conversation (oldest turn first, the query last): its last
        ``turns`` turns that are not empty once cleaned (:func:`rnnkit.data.dialogue.clean_turn`)."""
        turns = [turn for turn in (clean_turn(t) for t in context) if turn][-self.turns:]
        return context_ids(turns, self.vocab, self.max_len)

    def reply_ids(self, contexts: Sequence[Sequence[str]], decoding: Decoding = Decoding(), *, batch_size: int = 64,
                  generator: torch.Generator | None = None) -> list[list[int]]:
        """The reply ids (no ``<s>``/``</s>``) to each conversation, in the order given; conversations
        are decoded in batches of similar length.

        Raises:
            ValueError: a conversation with no turn left once cleaned (named by its number).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        encoded = [self.encode(context) for context in contexts]
        for number, ids in enumerate(encoded):
            if not ids:
                raise ValueError(f"contexts: conversation {number} is empty once control characters and "
                                 "blank turns are removed")
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        hierarchical = self.model.config.context == "hred"
        results: list[list[int]] = [[] for _ in encoded]
        training = self.model.training
        self.model.eval()
        try:
            for begin in range(0, len(order), batch_size):
                rows = order[begin:begin + batch_size]
                batch = pad_context([Example(encoded[i]) for i in rows], hierarchical).to(self.device)
                hypotheses = self.model.respond(batch.tokens, batch.lengths, decoding, generator=generator)
                for row, ids in zip(rows, hypotheses.sequences()):
                    results[row] = ids
        finally:
            self.model.train(training)
        return results

    def replies(self, contexts: Sequence[Sequence[str]], decoding: Decoding = Decoding(), **options) -> list[str]:
        """The reply to each conversation as one line of text (options as :meth:`reply_ids`)."""
        return [clean_turn(self.vocab.decode(ids)) for ids in self.reply_ids(contexts, decoding, **options)]


def distinct(replies: Sequence[str], n: int) -> float:
    """distinct-n of the module docstring (0 when the replies hold no character)."""
    grams, total = set(), 0
    for reply in replies:
        chars = [ch for ch in reply if not ch.isspace()]
        total += len(chars)
        grams.update(tuple(chars[i:i + n]) for i in range(len(chars) - n + 1))
    return len(grams) / total if total else 0.0


def dialogue_scores(replies: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU-2 (percent), distinct-1, distinct-2 and the mean reply length in characters (module docstring).

    Arguments:
        replies: one per exchange.  references: the human replies, aligned.
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as err:
        raise ValueError("dialogue_scores needs sacrebleu: pip install 'rnnkit[tasks]'") from err
    if len(replies) != len(references) or not references:
        raise ValueError(f"replies: expected one per reference ({len(references)}), got {len(replies)}")
    bleu = BLEU(tokenize="char", max_ngram_order=2).corpus_score(list(replies), [list(references)])
    return {"bleu2": bleu.score, "distinct1": distinct(replies, 1), "distinct2": distinct(replies, 2),
            "length": sum(len("".join(r.split())) for r in replies) / len(replies)}

