"""Nested batches and states: move to a device, detach, flatten to tensors + a JSON structure.

A "tree" is a tensor, None, a number/string, or a tuple / NamedTuple / list / dict / dataclass of trees.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import torch


def map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], tree: Any) -> Any:
    """Applies ``fn`` to every tensor of ``tree``, keeping its containers (NamedTuples included)."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, tuple):
        leaves = [map_tensors(fn, part) for part in tree]
        return type(tree)(*leaves) if hasattr(tree, "_fields") else tuple(leaves)
    if isinstance(tree, list):
        return [map_tensors(fn, part) for part in tree]
    if isinstance(tree, dict):
        return {key: map_tensors(fn, part) for key, part in tree.items()}
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return dataclasses.replace(tree, **{f.name: map_tensors(fn, getattr(tree, f.name))
                                            for f in dataclasses.fields(tree) if f.init})
    return tree


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch.to(device)`` if the batch has such a method, else its tensors moved one by one."""
    if not isinstance(batch, torch.Tensor) and callable(getattr(batch, "to", None)):
        return batch.to(device)
    return map_tensors(lambda t: t.to(device, non_blocking=True), batch)


def detach(state: Any) -> Any:
    """The state with every tensor detached from the graph (truncates BPTT at this point)."""
    return map_tensors(torch.Tensor.detach, state)


def flatten(tree: Any) -> tuple[Any, list[torch.Tensor]]:
    """``(structure, tensors)``: a JSON-serialisable description and the tensors in order.

    Supports tensors, None, tuples, NamedTuples (rebuilt by import path), lists and string-keyed dicts.
    """
    tensors: list[torch.Tensor] = []

    def walk(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, torch.Tensor):
            tensors.append(node)
            return {"tensor": len(tensors) - 1}
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            cls = type(node)
            return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}", "items": [walk(p) for p in node]}
        if isinstance(node, (tuple, list)):
            return {"tuple" if isinstance(node, tuple) else "list": [walk(p) for p in node]}
        if isinstance(node, dict) and all(isinstance(k, str) for k in node):
            return {"dict": {k: walk(v) for k, v in node.items()}}
        raise ValueError(f"state: expected tensors, None, tuples, lists or str-keyed dicts, got {type(node).__name__}")

    return walk(tree), tensors


def unflatten(structure: Any, tensors: list[torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`. NamedTuple classes are imported by name and must be tuple subclasses."""
    if structure is None:
        return None
    if "tensor" in structure:
        return tensors[structure["tensor"]]
    if "namedtuple" in structure:
        module, _, qualname = structure["namedtuple"].partition(":")
        cls: Any = importlib.import_module(module)
        for name in qualname.split("."):
            cls = getattr(cls, name)
        if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise ValueError(f"state: {structure['namedtuple']} is not a NamedTuple class")
        return cls(*[unflatten(p, tensors) for p in structure["items"]])
    if "tuple" in structure:
        return tuple(unflatten(p, tensors) for p in structure["tuple"])
    if "list" in structure:
        return [unflatten(p, tensors) for p in structure["list"]]
    return {k: unflatten(v, tensors) for k, v in structure["dict"].items()}
