"""What a checkpoint holds against what the caller expects: configuration fields and tensor shapes."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

import torch

_ABSENT = object()


def config_changes(saved: dict | None, current: dict | None, defaults: Mapping[str, Any] | None = None) -> list[str]:
    """The fields that differ, as ``"hidden_size 512 -> 256"`` (saved value first), in field order.

    ``defaults`` (:func:`field_defaults`) stand in for fields a saved config lacks: a config written
    before a field with a default existed is the same as one with that default.
    """
    saved, current = {**(defaults or {}), **(saved or {})}, current or {}
    names = list(dict.fromkeys([*saved, *current]))
    return [f"{name} {_show(saved.get(name, _ABSENT))} -> {_show(current.get(name, _ABSENT))}"
            for name in names if saved.get(name, _ABSENT) != current.get(name, _ABSENT)]


def field_defaults(config: Any) -> dict[str, Any]:
    """The defaults of a dataclass config's fields, as JSON values (``{}`` for anything else)."""
    if not dataclasses.is_dataclass(config):
        return {}
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(config)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    return json.loads(json.dumps(defaults, default=repr))


def check_shapes(saved: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], built: str) -> None:
    """Raises ValueError unless ``saved`` has exactly the names and shapes of ``expected``.

    Arguments:
        saved: the checkpoint's weights.
        expected: a model's ``state_dict()``.
        built: what ``expected`` is, for the message (e.g. "the model built from its config").
    """
    missing = [name for name in expected if name not in saved]
    extra = [name for name in saved if name not in expected]
    wrong = [f"{name} {tuple(saved[name].shape)} vs {tuple(expected[name].shape)}"
             for name in expected if name in saved and saved[name].shape != expected[name].shape]
    faults = [f"{label} {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
              for label, names in (("shapes differ:", wrong), ("missing:", missing), ("unexpected:", extra)) if names]
    if faults:
        raise ValueError(f"weights: they do not fit {built}; " + "; ".join(faults))


def _show(value) -> str:
    return "(absent)" if value is _ABSENT else repr(value)
