"""Translating text with a trained :class:`~rnnkit.tasks.seq2seq.Seq2Seq`, and scoring translations.

:class:`Translator` holds the model and the two vocabularies (saved as checkpoint metadata under
``src_vocab`` / ``tgt_vocab``) and turns sentences into sentences; the scores are sacrebleu's
corpus BLEU and chrF (``pip install 'rnnkit[tasks]'``) and the exact-match rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..data.pairs import check_vocabulary
from ..data.sequences import Example, collate
from ..data.vocab import Vocabulary
from .inference import evaluating
from .seq2seq import Seq2Seq, Seq2SeqConfig


@dataclass
class Alignment:
    """The attention of one translation: ``weights[i, j]`` is the weight on source token j when
    the decoder predicted target token i.

    Attributes:
        translation: the output text.
        source: the source tokens (S).  target: the output tokens, then ``</s>`` if the output ended (T').
        weights: ``(T', S)``, every row sums to 1.
    """

    translation: str
    source: list[str]
    target: list[str]
    weights: torch.Tensor


class Translator:
    """Sentences in, sentences out.

    Arguments:
        model: a :class:`Seq2Seq`; it decodes in eval mode (dropout off) and is left in the mode it had,
            so a training callback may translate with the model being trained.
        src_vocab, tgt_vocab: the vocabularies it was trained with (from :func:`rnnkit.data.pairs.build_vocabulary`).
    """

    def __init__(self, model: Seq2Seq, src_vocab: Vocabulary, tgt_vocab: Vocabulary):
        if not isinstance(model, Seq2Seq):
            raise ValueError(f"model: expected a rnnkit Seq2Seq, got {type(model).__name__}")
        self.src_vocab = check_vocabulary(src_vocab, "src_vocab")
        self.tgt_vocab = check_vocabulary(tgt_vocab, "tgt_vocab")
        for name, vocab, size in (("src_vocab", src_vocab, model.config.src_vocab_size),
                                  ("tgt_vocab", tgt_vocab, model.config.tgt_vocab_size)):
            if len(vocab) != size:
                raise ValueError(f"{name}: expected {size} tokens (the model's), got {len(vocab)}")
        self.model = model

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu") -> "Translator":
        """The model and vocabularies of the newest checkpoint in ``run_dir`` that verifies and fits
        (safetensors + JSON only)."""
        return cls.from_checkpoint(run_dir, device)

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str | torch.device = "cpu") -> "Translator":
        """The model and vocabularies of a run or checkpoint directory (the newest checkpoint whose weights
        fit its config and whose vocabularies have the config's sizes), or of a loaded
        :class:`~rnnkit.train.Checkpoint` (checked, no fallback)."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(checkpoint, Seq2Seq, Seq2SeqConfig, device=device,
                                          vocabularies={"src_vocab": "src_vocab_size", "tgt_vocab": "tgt_vocab_size"})
        if "src_vocab" not in checkpoint.metadata or "tgt_vocab" not in checkpoint.metadata:
            raise ValueError(f"run_dir: expected a run of `rnnkit train seq2seq`, got a checkpoint without "
                             f"vocabularies in {checkpoint.path}")
        return cls(model, Vocabulary.from_dict(checkpoint.metadata["src_vocab"]),
                   Vocabulary.from_dict(checkpoint.metadata["tgt_vocab"]))

    @property
    def device(self) -> torch.device:
        return self.model.output.weight.device

    def _encode(self, sentences: Sequence[str]) -> list[list[int]]:
        encoded = []
        for number, sentence in enumerate(sentences):
            ids = self.src_vocab.encode(sentence.strip()).tolist()
            if not ids:
                raise ValueError(f"sentences: sentence {number} is empty; expected at least one token")
            encoded.append(ids)
        return encoded

    def translate_ids(self, sentences: Sequence[str], *, beam_size: int = 1, max_len: int | None = None,
                      length_penalty: float = 1.0, batch_size: int = 64) -> list[list[int]]:
        """The target ids chosen for each sentence (no ``<s>``/``</s>``), in the order given.

        Sentences are decoded in batches of similar length; see :meth:`Seq2Seq.translate` for the options.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        encoded = self._encode(sentences)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[list[int]] = [[] for _ in encoded]
        with evaluating(self.model):
            for begin in range(0, len(order), batch_size):
                rows = order[begin:begin + batch_size]
                batch = collate([Example(encoded[i]) for i in rows]).to(self.device)     # tokens (B, S)
                hypotheses = self.model.translate(batch.tokens, batch.lengths, beam_size=beam_size,
                                                  max_len=max_len, length_penalty=length_penalty)
                for row, ids in zip(rows, hypotheses.sequences()):
                    results[row] = ids
        return results

    def translate(self, sentences: Sequence[str], **options) -> list[str]:
        """Translations of ``sentences`` (options as :meth:`translate_ids`)."""
        return [self.tgt_vocab.decode(ids) for ids in self.translate_ids(sentences, **options)]

    def align(self, sentence: str, *, beam_size: int = 1, max_len: int | None = None,
              length_penalty: float = 1.0) -> Alignment:
        """Translates one sentence and returns the decoder's attention over it (for a heatmap).

        The weights are those of the decoding itself: teacher forcing on the chosen output gives
        the same decoder states as the search did. Raises ValueError for a model without attention.
        """
        if self.model.attention is None:
            raise ValueError("sentence: the model was trained with attention 'none'; there are no weights to show")
        src = torch.tensor(self._encode([sentence]), device=self.device)           # (1, S)
        with evaluating(self.model):
            hypotheses = self.model.translate(src, None, beam_size=beam_size, max_len=max_len,
                                              length_penalty=length_penalty)
            ids = hypotheses.sequences()[0]
            ended = bool(hypotheses.ended[0])
            tgt_in = torch.tensor([[self.model.config.bos_id, *ids]], device=self.device)   # (1, T + 1)
            _, weights = self.model(src, None, tgt_in[:, :len(ids) + ended])     # (1, T [+ 1], S)
        target = self.tgt_vocab.lookup(ids) + (["</s>"] if ended else [])
        return Alignment(self.tgt_vocab.decode(ids), self.src_vocab.lookup(src[0]), target, weights[0].cpu())


def translation_scores(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "13a") -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, one reference per sentence) and the exact-match rate, in percent.

    Arguments:
        hypotheses, references: detokenised sentences, aligned.
        tokenize: sacrebleu's BLEU tokeniser (``"13a"`` for English, ``"zh"`` for Chinese output).
    Returns:
        ``{"bleu": ..., "chrf": ..., "exact": ...}``.
    """
    try:
        import sacrebleu
    except ImportError as err:
        raise ValueError("translation_scores needs sacrebleu: pip install 'rnnkit[tasks]'") from err
    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"hypotheses: expected one per reference ({len(references)}), got {len(hypotheses)}")
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"bleu": bleu.score, "chrf": chrf.score, "exact": 100.0 * exact_match(hypotheses, references)}


def exact_match(hypotheses: Sequence, references: Sequence) -> float:
    """The fraction of hypotheses equal to their reference (strings or id sequences)."""
    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"hypotheses: expected one per reference ({len(references)}), got {len(hypotheses)}")
    return sum(list(h) == list(r) for h, r in zip(hypotheses, references)) / len(references)
