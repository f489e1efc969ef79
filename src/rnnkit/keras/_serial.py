"""Shared machinery of the small Keras object families (initializers, regularizers, constraints).

Each family is a base class whose subclasses register under their class name and its snake-case
form; ``get`` turns a name, a ``{"class_name", "config"}`` dict, an instance or a callable into the
object, and ``serialize`` turns an object back into that dict.
"""
from __future__ import annotations

import re
from typing import Any


def to_snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``"LSTMCell" -> "lstm_cell"``, ``"GlorotUniform" -> "glorot_uniform"``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Family:
    """A registry of one kind of object, e.g. initializers."""

    def __init__(self, kind: str):
        self.kind = kind
        self.classes: dict[str, type] = {}

    def register(self, cls: type, *aliases: str) -> type:
        """Registers ``cls`` under its name, its snake-case name and ``aliases``."""
        for name in (cls.__name__, to_snake_case(cls.__name__), *aliases):
            self.classes[name] = cls
        return cls

    def get(self, identifier: Any, argument: str) -> Any:
        """None stays None; a registered name or config dict builds the object; instances and callables pass.

        Raises:
            ValueError: an unknown name or a value of the wrong type, naming ``argument``.
        """
        if identifier is None or callable(identifier):
            return identifier
        if isinstance(identifier, str) and identifier in self.classes:
            return self.classes[identifier]()
        if isinstance(identifier, dict) and identifier.get("class_name") in self.classes:
            return self.classes[identifier["class_name"]](**identifier.get("config", {}))
        names = sorted(name for name in self.classes if name == to_snake_case(name))
        raise ValueError(f"{argument}: expected a {self.kind} name ({', '.join(names)}), a config dict, "
                         f"an instance or a callable, got {identifier!r}")

    def serialize(self, obj: Any, argument: str) -> dict | None:
        """``{"class_name": ..., "config": ...}`` for a registered object, None for None.

        Raises:
            ValueError: a user callable, which a JSON config cannot describe.
        """
        if obj is None:
            return None
        if self.classes.get(type(obj).__name__) is type(obj):
            return {"class_name": type(obj).__name__, "config": obj.get_config()}
        raise ValueError(f"{argument}: cannot save {obj!r} in a config; use a built-in {self.kind}")
