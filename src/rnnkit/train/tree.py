"""Nested batches and states: move to a device, detach, flatten to tensors + a JSON structure.

A "tree" is a tensor, None, a number/string, or a tuple / NamedTuple / list / dict / dataclass of trees.

A flattened state names its NamedTuple classes (``"module:QualName"``). Rebuilding one never imports
anything: only the classes registered with :func:`register_state_type` (``LSTMState`` is) are
rebuilt, and any other name is a ValueError, so a checkpoint cannot make resume import a module.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

from ..cells.lstm import LSTMState

_STATE_TYPES: dict[str, type] = {}


def register_state_type(cls: type) -> type:
    """Allows a NamedTuple class in carried states that checkpoints save and resume rebuilds.

    Arguments:
        cls: a NamedTuple class (e.g. the state of a custom cell); also usable as a class decorator.
    Returns:
        ``cls``.
    """
    if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
        raise ValueError(f"cls: expected a NamedTuple class, got {cls!r}")
    _STATE_TYPES[_name(cls)] = cls
    return cls


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


register_state_type(LSTMState)


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

    Supports tensors, None, tuples, registered NamedTuples (:func:`register_state_type`), lists and
    string-keyed dicts.
    """
    tensors: list[torch.Tensor] = []

    def walk(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, torch.Tensor):
            tensors.append(node)
            return {"tensor": len(tensors) - 1}
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            name = _name(type(node))
            if _STATE_TYPES.get(name) is not type(node):
                raise ValueError(f"state: {name} is not a registered state type; call "
                                 f"rnnkit.train.register_state_type({type(node).__name__}) to checkpoint it")
            return {"namedtuple": name, "items": [walk(p) for p in node]}
        if isinstance(node, (tuple, list)):
            return {"tuple" if isinstance(node, tuple) else "list": [walk(p) for p in node]}
        if isinstance(node, dict) and all(isinstance(k, str) for k in node):
            return {"dict": {k: walk(v) for k, v in node.items()}}
        raise ValueError(f"state: expected tensors, None, tuples, lists or str-keyed dicts, got {type(node).__name__}")

    return walk(tree), tensors


def unflatten(structure: Any, tensors: list[torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`; imports nothing (NamedTuples come from the registry).

    Raises:
        ValueError: an unregistered NamedTuple name, a malformed structure, or a missing tensor.
    """
    if structure is None:
        return None
    if not isinstance(structure, dict) or len(structure) not in (1, 2):
        raise ValueError(f"state: expected a flattened state, got {structure!r:.80}")
    if "tensor" in structure:
        index = structure["tensor"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tensors):
            raise ValueError(f"state: tensor {index!r} is missing ({len(tensors)} saved)")
        return tensors[index]
    if "namedtuple" in structure:
        cls = _STATE_TYPES.get(structure["namedtuple"]) if isinstance(structure["namedtuple"], str) else None
        if cls is None:
            raise ValueError(f"state: {structure['namedtuple']!r:.80} is not a registered state type "
                             "(rnnkit.train.register_state_type)")
        items = _children(structure, "items", list)
        if len(items) != len(cls._fields):
            raise ValueError(f"state: {structure['namedtuple']} has {len(cls._fields)} fields, got {len(items)}")
        return cls(*[unflatten(p, tensors) for p in items])
    if "tuple" in structure:
        return tuple(unflatten(p, tensors) for p in _children(structure, "tuple", list))
    if "list" in structure:
        return [unflatten(p, tensors) for p in _children(structure, "list", list)]
    return {k: unflatten(v, tensors) for k, v in _children(structure, "dict", dict).items()}


def _children(structure: dict, key: str, kind: type) -> Any:
    children = structure.get(key)
    if not isinstance(children, kind):
        raise ValueError(f"state: expected a flattened state, got {structure!r:.80}")
    return children
