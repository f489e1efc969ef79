"""The classifier view: the class probabilities of a text as it is typed
(:func:`rnnkit.tasks.classifier.classify_tokens`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fields
from ..limits import Limits
from . import View


@dataclass
class ClassifierRun:
    model: Any
    encoder: Any
    max_len: int | None


def load(path: Path, device) -> ClassifierRun:
    from ...train.restore import task_checkpoint
    from ...data.sequences import TokenEncoder
    from ...tasks.classifier import Classifier

    model, metadata = Classifier.from_checkpoint(task_checkpoint(path, "classifier"), device=device)
    return ClassifierRun(model, TokenEncoder.from_dict(metadata["encoder"]), metadata.get("max_len"))


def describe(run: ClassifierRun) -> dict:
    return {"labels": list(run.model.config.labels), "level": run.encoder.vocab.level, "max_len": run.max_len}


def classify(run: ClassifierRun, body: dict, limits: Limits) -> dict:
    """``probabilities[k]`` of ``labels[k]`` for ``text`` (read up to the run's ``max_len`` tokens, as in training)."""
    from ...tasks.classifier import classify_tokens

    text = fields.text(body, "text", limits.max_text)
    tokens = run.encoder.split(text)[:run.max_len]
    probabilities = classify_tokens(run.model, run.encoder, [tokens], batch_size=1)[0]
    return {"labels": list(run.model.config.labels), "probabilities": [round(p, 4) for p in probabilities.tolist()],
            "tokens": len(tokens)}


VIEW = View(name="classifier", title="classifier", tasks=("classifier",), load=load, describe=describe,
            actions={"classify": classify})
