"""Rebuilding a task model from a checkpoint, choosing the newest checkpoint the model fits.

Every task's ``from_checkpoint`` goes through :func:`restore_model`: each candidate checkpoint
must hold the expected model class, a config the task rebuilds its model from, weights of exactly
that model's names and shapes, and vocabularies (in the metadata) of the sizes the config says.
A candidate that does not fit is skipped with a :class:`~rnnkit.train.CheckpointWarning`, like a
damaged one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.vocab import Vocabulary
from .checkpoint import CHECKPOINTS, Checkpoint, load_checkpoint
from .compare import check_shapes
from .integrity import read_state

BEST = "best"       # RUN_DIR/best: the model of the lowest dev loss, when training kept one

# The vocabularies of a TokenEncoder saved as the metadata entry "encoder" (tagger, classifier).
ENCODER_VOCABULARIES = {"encoder.vocab": "vocab_size", "encoder.bigram_vocab": "bigram_vocab_size"}


def model_source(run_dir: str | Path) -> Path:
    """Where a run's model loads from: ``RUN_DIR/best`` if training kept one, else the run directory (whose
    newest checkpoint that verifies is then taken, an older one if it is damaged)."""
    path = Path(run_dir)
    return path / BEST if (path / BEST).is_dir() else path


def recorded_task(path: str | Path) -> str | None:
    """The task named in the newest readable ``state.json`` of a run directory (of its ``best/`` model when
    there is one) or of a checkpoint directory; None when no readable one names a task."""
    source = model_source(path)
    candidates = [source] if (source / "state.json").is_file() else \
        sorted((source / CHECKPOINTS).glob("ckpt-*"), reverse=True)
    for candidate in candidates:
        try:
            task = read_state(candidate / "state.json").get("metadata", {}).get("task")
        except (OSError, ValueError):
            continue
        if isinstance(task, str):
            return task
    return None


def task_checkpoint(run_dir: str | Path, task: str, name: str = "RUN_DIR") -> Path:
    """:func:`model_source` of a run directory whose checkpoints hold a ``task`` model.

    Raises:
        ValueError: ``run_dir`` is not a directory, or its newest readable checkpoint names another task;
            the message names the argument that gave it (``name``).
    """
    if not Path(run_dir).is_dir():
        raise ValueError(f"{name}: expected the directory of a training run, got {str(run_dir)!r} "
                         "(no such directory)")
    found = recorded_task(run_dir)
    if found is not None and found != task:
        raise ValueError(f"{name}: {run_dir} holds a {found!r} model, expected a {task}")
    return model_source(run_dir)


def restore_model(source: str | Path | Checkpoint, model_class: type[nn.Module], config_class: type, *,
                  vocabularies: dict[str, str] | None = None,
                  device: str | torch.device = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The model of the newest checkpoint that fits, in eval mode, and that checkpoint.

    Arguments:
        source: a run directory, a checkpoint directory, or a loaded :class:`Checkpoint` (checked
            only: there is nothing to fall back to).
        model_class: the task model; the checkpoint must hold one, built as
            ``model_class(config_class.from_dict(config))``.
        config_class: its config dataclass (``from_dict`` raises ValueError for a config it rejects).
        vocabularies: metadata entry -> config field that must equal its vocabulary's size, e.g.
            ``{"vocabulary": "vocab_size"}``; dots reach into nested entries (``"encoder.vocab"``);
            an entry absent from the metadata is not checked, a null one has size 0.
        device: where to put the model.
    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: no checkpoint fits (the message says why for each).
    """
    built: dict[Path, nn.Module] = {}

    def check(checkpoint: Checkpoint) -> None:
        built[checkpoint.path] = _fitting_model(checkpoint, model_class, config_class, vocabularies or {})

    if isinstance(source, Checkpoint):
        checkpoint = source
        try:
            check(checkpoint)
        except ValueError as err:
            raise ValueError(f"checkpoint: {checkpoint.path} does not fit: {err}") from None
    else:
        checkpoint = load_checkpoint(source, check=check)
    model = built[checkpoint.path]
    model.load_state_dict(checkpoint.weights)
    return model.to(device).eval(), checkpoint


def _fitting_model(checkpoint: Checkpoint, model_class: type[nn.Module], config_class: type,
                   vocabularies: dict[str, str]) -> nn.Module:
    """The model built from ``checkpoint``'s config, after checking that the checkpoint fits it."""
    expected = f"{model_class.__module__}.{model_class.__qualname__}"
    if checkpoint.model_class != expected:
        raise ValueError(f"model: the checkpoint holds a {checkpoint.model_class}, expected a {expected}")
    config = checkpoint.config
    if not isinstance(config, dict):
        raise ValueError("config: the checkpoint holds no model config")
    for entry, field in vocabularies.items():
        value, found = _lookup(checkpoint.metadata, entry)
        if found:
            try:
                size = 0 if value is None else len(Vocabulary.from_dict(value))
            except TypeError as err:
                raise ValueError(f"metadata: {entry!r} is not a vocabulary ({err})") from None
            if size != config.get(field):
                raise ValueError(f"metadata: {entry!r} has {size} tokens, but the config's {field} is "
                                 f"{config.get(field)!r}")
    try:
        model = model_class(config_class.from_dict(config))
    except (TypeError, KeyError) as err:
        raise ValueError(f"config: cannot rebuild the model from it ({err})") from None
    check_shapes(checkpoint.weights, model.state_dict(), "the model built from its config")
    return model


def _lookup(metadata: Any, entry: str) -> tuple[Any, bool]:
    """``(value, found)`` of a dotted metadata entry."""
    value = metadata
    for key in entry.split("."):
        if not isinstance(value, dict) or key not in value:
            return None, False
        value = value[key]
    return value, True
