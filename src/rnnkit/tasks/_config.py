"""Validation shared by the task configs (frozen dataclasses saved with every checkpoint)."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C")


def check_positive(config: object, *names: str) -> None:
    """Raises ValueError unless every ``config.<name>`` is a positive integer."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_rate(name: str, value: Any) -> None:
    """Raises ValueError unless ``value`` is a rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a rate in [0, 1), got {value!r}")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """Raises ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}")


def config_from_dict(cls: type[C], data: Any) -> C:
    """Rebuilds a config dataclass from ``dataclasses.asdict`` output (after JSON: lists become tuples
    where the field's default is a tuple); ValueError for unknown fields."""
    if not isinstance(data, dict):
        raise ValueError(f"config: expected a dict of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"config: unknown {cls.__name__} fields {unknown}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)
