"""Captioning image files with a trained :class:`~rnnkit.tasks.captioner.Captioner`, and scoring captions.

:class:`ImageCaptioner` holds the model and its vocabulary (checkpoint metadata ``vocabulary``) and
turns image files (or ``uint8`` image tensors) into captions, and shows where the attention decoder
looked (:meth:`ImageCaptioner.attend`). :func:`caption_scores` gives sacrebleu's corpus BLEU-4 and
BLEU-1 (several references per image allowed), chrF and the exact-match rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..data.images import read_images, to_unit
from ..data.pairs import check_vocabulary
from ..data.tokenize import check_level, tokenize
from ..data.vocab import Vocabulary
from .captioner import Captioner, CaptionerConfig
from .inference import evaluating


@dataclass
class CaptionAttention:
    """Where the attention decoder looked for each word of one caption.

    Attributes:
        caption: the text.  tokens: its tokens, then ``</s>`` if it ended (T').
        image: ``uint8 (3, S, S)``, the picture as the model saw it.
        weights: ``(T', h, w)``, each map sums to 1 over the grid of image regions.
    """

    caption: str
    tokens: list[str]
    image: torch.Tensor
    weights: torch.Tensor


class ImageCaptioner:
    """Images in, captions out.

    Arguments:
        model: a :class:`Captioner`; it decodes in eval mode and is left in the mode it had.
        vocab: the vocabulary it was trained with (:func:`rnnkit.data.pairs.build_vocabulary`).
    """

    def __init__(self, model: Captioner, vocab: Vocabulary):
        if not isinstance(model, Captioner):
            raise ValueError(f"model: expected a rnnkit Captioner, got {type(model).__name__}")
        self.vocab = check_vocabulary(vocab, "vocab")
        if len(vocab) != model.config.vocab_size:
            raise ValueError(f"vocab: expected {model.config.vocab_size} tokens (the model's), got {len(vocab)}")
        self.model = model

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str | torch.device = "cpu") -> "ImageCaptioner":
        """The model and vocabulary of a run or checkpoint directory (the newest checkpoint that
        verifies and fits), or of a loaded :class:`~rnnkit.train.Checkpoint` (checked, no fallback)."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(checkpoint, Captioner, CaptionerConfig, device=device,
                                          vocabularies={"vocabulary": "vocab_size"})
        if "vocabulary" not in checkpoint.metadata:
            raise ValueError(f"run_dir: expected a run of `rnnkit train captioner`, got a checkpoint without "
                             f"a vocabulary in {checkpoint.path}")
        return cls(model, Vocabulary.from_dict(checkpoint.metadata["vocabulary"]))

    @property
    def device(self) -> torch.device:
        return self.model.output.weight.device

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def caption_images(self, images: torch.Tensor, *, beam_size: int = 1, max_len: int = 30,
                       length_penalty: float = 1.0, batch_size: int = 64) -> list[str]:
        """Captions of ``uint8 (N, 3, S, S)`` images (see :meth:`Captioner.caption` for the options)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        captions = []
        with evaluating(self.model):
            for begin in range(0, images.shape[0], batch_size):
                chunk = to_unit(images[begin:begin + batch_size]).to(self.device)  # (B, 3, S, S)
                hypotheses = self.model.caption(chunk, beam_size=beam_size, max_len=max_len,
                                                length_penalty=length_penalty)
                captions += [self.vocab.decode(ids) for ids in hypotheses.sequences()]
        return captions

    def caption_files(self, paths: Sequence[str | Path], **options) -> list[str]:
        """Captions of image files (any format Pillow reads; options as :meth:`caption_images`)."""
        return self.caption_images(read_images(paths, self.image_size), **options)

    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The trained CNN's pooled region features ``ā = 1/L Σ_l a_l (N, C)`` of ``uint8 (N, 3, S, S)``
        images (every decoder trains them; nearest-neighbour caption retrieval uses them)."""
        pooled = []
        with evaluating(self.model):
            for begin in range(0, images.shape[0], batch_size):
                chunk = to_unit(images[begin:begin + batch_size]).to(self.device)
                normalised = (chunk - self.model.pixel_mean) / self.model.pixel_std
                pooled.append(self.model.encoder(normalised).grid.mean(dim=1).cpu())      # (B, C)
        return torch.cat(pooled)

    def attend(self, image: torch.Tensor, *, beam_size: int = 1, max_len: int = 30,
               length_penalty: float = 1.0) -> CaptionAttention:
        """Captions one ``uint8 (3, S, S)`` image and returns the attention maps of its words.

        The maps are those of the decoding itself: teacher forcing on the chosen caption gives the
        same decoder states as the search did. Raises ValueError for a decoder without attention.
        """
        if self.model.attention is None:
            raise ValueError(f"image: the model's decoder is {self.model.config.decoder!r}; only the "
                             f"attention decoder has maps to show")
        with evaluating(self.model):
            unit = to_unit(image[None]).to(self.device)                            # (1, 3, S, S)
            hypotheses = self.model.caption(unit, beam_size=beam_size, max_len=max_len,
                                            length_penalty=length_penalty)
            ids = hypotheses.sequences()[0]
            ended = bool(hypotheses.ended[0])
            tgt_in = torch.tensor([[self.model.config.bos_id, *ids]], device=self.device)   # (1, T + 1)
            _, weights = self.model(unit, tgt_in[:, :len(ids) + ended])            # (1, T', L)
            _, shape = self.model.encode(unit)
        tokens = self.vocab.lookup(ids) + (["</s>"] if ended else [])
        return CaptionAttention(self.vocab.decode(ids), tokens, image.cpu(), weights[0].view(-1, *shape).cpu())


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                   level: str = "word") -> dict[str, float]:
    """Corpus BLEU-4 and BLEU-1 and chrF (sacrebleu), and the exact-match rate, in percent.

    Arguments:
        hypotheses: one caption per image.  references: each image's reference captions (one or more).
        level: the captions' tokens. ``"word"``: BLEU on sacrebleu's ``intl`` tokens, which split
            punctuation from words as :func:`rnnkit.data.tokenize.tokenize` does (``medium-dark`` is
            ``medium - dark`` to both); ``"char"``: sacrebleu's ``zh`` tokens, Chinese by characters.
    Returns:
        ``{"bleu4", "bleu1", "chrf", "exact"}``; exact counts a caption whose tokens equal those of
        any of its references.
    """
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError as err:
        raise ValueError("caption_scores needs sacrebleu: pip install 'rnnkit[images]'") from err
    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"hypotheses: expected one per image ({len(references)}), got {len(hypotheses)}")
    if not all(references):
        raise ValueError("references: expected at least one reference caption per image")
    tokenizer = {"word": "intl", "char": "zh"}[check_level(level)]
    width = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    hypotheses = list(hypotheses)
    exact = sum(any(tokenize(h, level) == tokenize(r, level) for r in refs) for h, refs in zip(hypotheses, references))
    return {"bleu4": BLEU(tokenize=tokenizer).corpus_score(hypotheses, streams).score,
            "bleu1": BLEU(tokenize=tokenizer, max_ngram_order=1).corpus_score(hypotheses, streams).score,
            "chrf": CHRF().corpus_score(hypotheses, streams).score,
            "exact": 100.0 * exact / len(references)}
