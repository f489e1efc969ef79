"""Layers as JSON: ``{"class_name": ..., "config": ...}`` and back, through a registry of classes.

Any ``Layer`` subclass (user layers included) is found by its class name; ``custom_objects`` adds more.
"""
from __future__ import annotations

from .layers.base import Layer


def _subclasses(cls: type) -> dict[str, type]:
    found = {}
    for sub in cls.__subclasses__():
        if not sub.__name__.startswith("_"):
            found[sub.__name__] = sub
        found.update(_subclasses(sub))
    return found


def serialize_layer(layer: Layer) -> dict:
    """``{"class_name", "config"}`` of a layer (its ``get_config``)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: dict, custom_objects: dict[str, type] | None = None) -> Layer:
    """Rebuilds a layer from :func:`serialize_layer`'s output.

    Raises:
        ValueError: an unknown class name.
    """
    registry = {**_subclasses(Layer), **(custom_objects or {})}
    name = spec.get("class_name") if isinstance(spec, dict) else None
    if name not in registry:
        raise ValueError(f"config: unknown layer class {name!r}; pass it in custom_objects")
    return registry[name].from_config(dict(spec.get("config", {})))
