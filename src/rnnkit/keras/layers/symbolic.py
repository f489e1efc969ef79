"""Symbolic tensors for the functional API: ``Input(...)`` and layer calls on them build a graph.

A :class:`KerasTensor` carries a shape (None for sizes only known at run time), a dtype and the
:class:`Node` (layer call) that produced it. Calling a layer on KerasTensors runs the real layer
twice on zero tensors, once with every unknown size set to 2 and once to 3: the layer builds its
weights on the first run, and the output dimensions that differ between the runs are unknown.
Masks are ignored while tracing (they depend on the data); they travel with real tensors.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any, Callable

import torch

_TRACING = [False]
_TENSOR_IDS = itertools.count()


def is_tracing() -> bool:
    """True while a layer runs on placeholder tensors (stateful layers must not keep their states)."""
    return _TRACING[0]


@contextlib.contextmanager
def tracing():
    previous, _TRACING[0] = _TRACING[0], True
    try:
        yield
    finally:
        _TRACING[0] = previous


class Node:
    """One call of ``layer`` on the KerasTensors inside ``args`` / ``kwargs``; produced ``outputs``."""

    def __init__(self, layer: Any, args: tuple, kwargs: dict, outputs: Any = None):
        self.layer, self.args, self.kwargs, self.outputs = layer, args, kwargs, outputs

    @property
    def inputs(self) -> list["KerasTensor"]:
        """The KerasTensors this call read, in order."""
        return [leaf for leaf in flatten((self.args, self.kwargs)) if isinstance(leaf, KerasTensor)]


class KerasTensor:
    """A placeholder: ``shape`` (with None), torch ``dtype``, the producing ``node`` and output ``index``."""

    def __init__(self, shape: tuple, dtype: torch.dtype, node: Node | None = None, name: str | None = None):
        self.shape, self.dtype, self.node = tuple(shape), dtype, node
        self.id = next(_TENSOR_IDS)
        self.name = name or f"keras_tensor_{self.id}"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def placeholder(self, unknown: int) -> torch.Tensor:
        """A zero tensor of this shape with every None replaced by ``unknown``."""
        return torch.zeros([unknown if size is None else size for size in self.shape], dtype=self.dtype)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def flatten(tree: Any) -> list:
    """The leaves of nested tuples / lists / dicts, in order."""
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in flatten(part)]
    if isinstance(tree, dict):
        return [leaf for part in tree.values() for leaf in flatten(part)]
    return [tree]


def map_structure(fn: Callable[[Any], Any], tree: Any) -> Any:
    """``fn`` applied to every leaf of nested tuples / lists / dicts."""
    if isinstance(tree, tuple):
        return tuple(map_structure(fn, part) for part in tree)
    if isinstance(tree, list):
        return [map_structure(fn, part) for part in tree]
    if isinstance(tree, dict):
        return {key: map_structure(fn, part) for key, part in tree.items()}
    return fn(tree)


def has_keras_tensor(tree: Any) -> bool:
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(tree))


def symbolic_call(layer: Any, args: tuple, kwargs: dict) -> Any:
    """Records ``layer(*args, **kwargs)`` on KerasTensors and returns KerasTensors for its outputs.

    Raises:
        ValueError: the layer cannot run on inputs of these shapes (e.g. an unknown size it must build on).
    """
    kwargs = {key: value for key, value in kwargs.items() if key != "training"}

    def run(unknown: int):
        def concrete(leaf):
            return leaf.placeholder(unknown) if isinstance(leaf, KerasTensor) else leaf
        with torch.no_grad(), tracing():
            return layer(*map_structure(concrete, args), training=False, **map_structure(concrete, kwargs))

    shapes = [leaf.shape for leaf in flatten((args, kwargs)) if isinstance(leaf, KerasTensor)]
    try:
        first, second = run(2), run(3)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(f"{layer.name}: cannot call the layer on inputs of shape {shapes} "
                         f"(None = unknown size): {err}") from err
    node = Node(layer, args, kwargs)
    leaves_b = iter(flatten(second))

    def symbolic(out):
        other = next(leaves_b)
        if not isinstance(out, torch.Tensor):
            return out
        shape = tuple(a if a == b else None for a, b in zip(out.shape, other.shape))
        return KerasTensor(shape, out.dtype, node)

    node.outputs = map_structure(symbolic, first)
    if getattr(layer, "output_shape_record", None) is None:
        layer.output_shape_record = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t,
                                                  node.outputs)
    return node.outputs
