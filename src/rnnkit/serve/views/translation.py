"""The translation view: a typed sentence, its translation and the decoder's attention over it
(:meth:`rnnkit.tasks.translation.Translator.align`)."""
from __future__ import annotations

from pathlib import Path

from .. import fields
from ..limits import Limits
from . import View

MAX_BEAM = 8


def load(path: Path, device):
    from ...train.restore import task_checkpoint
    from ...tasks.translation import Translator

    return Translator.from_checkpoint(task_checkpoint(path, "seq2seq"), device=device)


def describe(translator) -> dict:
    config = translator.model.config
    return {"source_level": translator.src_vocab.level, "target_level": translator.tgt_vocab.level,
            "attention": config.attention, "cell": config.cell}


def align(translator, body: dict, limits: Limits) -> dict:
    """The translation of ``sentence`` and, with attention, ``weights[i][j]``: the weight on source token j
    when the decoder wrote target token i."""
    sentence = fields.text(body, "sentence", limits.max_text)
    if not sentence.strip():
        raise ValueError("sentence: empty; type a sentence to translate")
    beam = fields.number(body, "beam", 1, MAX_BEAM, 1, integer=True)
    if translator.model.attention is None:
        return {"translation": translator.translate([sentence], beam_size=beam)[0], "weights": None}
    alignment = translator.align(sentence, beam_size=beam)
    return {"translation": alignment.translation, "source": alignment.source, "target": alignment.target,
            "weights": [[round(w, 4) for w in row] for row in alignment.weights.tolist()]}


VIEW = View(name="translation", title="translation", tasks=("seq2seq",), load=load, describe=describe,
            actions={"align": align})
