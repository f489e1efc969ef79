"""The tagger view: the tags of a text as it is typed; segmentation as words, entities as spans
(:func:`rnnkit.tasks.tagger.tag_sequences`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fields
from ..limits import Limits
from . import View


@dataclass
class TaggerRun:
    model: Any
    encoder: Any


def load(path: Path, device) -> TaggerRun:
    from ...train.restore import task_checkpoint
    from ...data.sequences import TokenEncoder
    from ...tasks.tagger import Tagger

    model, metadata = Tagger.from_checkpoint(task_checkpoint(path, "tagger"), device=device)
    return TaggerRun(model, TokenEncoder.from_dict(metadata["encoder"]))


def describe(run: TaggerRun) -> dict:
    return {"scheme": run.model.config.scheme, "tags": list(run.model.config.tags), "level": run.encoder.vocab.level}


def tag(run: TaggerRun, body: dict, limits: Limits) -> dict:
    """The tokens of ``text`` and their tags; with BMES tags the words, with BIO / BIOES the entities
    ``[start, end, type]`` (token indices, end exclusive)."""
    from ...data.tagging import entity_spans, words_from_bmes
    from ...tasks.tagger import tag_sequences

    text = fields.text(body, "text", limits.max_text)
    tokens = run.encoder.split(text)
    tags = tag_sequences(run.model, run.encoder, [tokens], batch_size=1)[0]
    scheme = run.model.config.scheme
    joiner = "" if run.encoder.vocab.level == "char" else " "
    return {"tokens": tokens, "tags": tags, "scheme": scheme, "joiner": joiner,
            "words": words_from_bmes(tokens, tags) if scheme == "bmes" else None,
            "entities": [list(span) for span in entity_spans(tags)] if scheme in ("bio", "bioes") else None}


VIEW = View(name="tagger", title="tagger", tasks=("tagger",), load=load, describe=describe, actions={"tag": tag})
