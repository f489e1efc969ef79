"""A model's weights as Keras 3's ``.weights.h5`` tree: the tree to write, and the arrays a file holds for it.

Keras saves each layer's own variables under ``vars`` and its children under their keys: lists of
layers (a model's ``layers``) by snake-case class name (``lstm``, ``lstm_1``, ...), nested layers by
attribute name (``cell``, ``forward_layer``). Reading walks the model, not the file: only the groups
and arrays the model has are opened, each array checked against its variable's shape before it is read.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...interop.errors import Malformed
from ...interop.keras_h5 import WeightsGroup
from .._serial import to_snake_case
from ..layers.base import Layer, Variable


def _children(layer: Layer) -> list[tuple[str, Any]]:
    """Keras' saved children of a layer: ``[(key, layer or list of layers)]``."""
    from .model import Model
    if isinstance(layer, Model) and hasattr(layer, "stack"):
        return [("layers", list(layer.stack))]
    found = []
    for name, child in layer.named_children():
        if isinstance(child, Layer):
            found.append((name, child))
        elif isinstance(child, torch.nn.ModuleList) and all(isinstance(c, Layer) for c in child):
            found.append((name, list(child)))
    return found


def _list_keys(layers: list[Layer]) -> list[str]:
    """Keras' keys for a list of objects: snake-case class names, ``_1``, ``_2``, ... for repeats."""
    used: dict[str, int] = {}
    keys = []
    for layer in layers:
        base = to_snake_case(type(layer).__name__)
        count = used.get(base, 0)
        used[base] = count + 1
        keys.append(base if count == 0 else f"{base}_{count}")
    return keys


def layer_tree(layer: Layer) -> dict:
    """The ``.weights.h5`` tree of a built layer."""
    tree = {"name": layer.name, "vars": [v.numpy() for v in layer.own_weights()], "children": {}}
    for key, child in _children(layer):
        if isinstance(child, list):
            tree["children"][key] = {"name": None, "vars": [], "children": {
                k: layer_tree(c) for k, c in zip(_list_keys(child), child)}}
        else:
            tree["children"][key] = layer_tree(child)
    return tree


def _child(group: WeightsGroup, key: str, layer: Layer) -> WeightsGroup:
    found = group.child(key)
    if found is None:
        raise Malformed(f"no group {group.where}/{key} for layer {layer.name!r}; the file's groups there are "
                        f"{sorted(group.keys())[:20]}")
    return found


def tree_arrays(layer: Layer, group: WeightsGroup) -> list[tuple[Variable, np.ndarray]]:
    """Each weight of a built layer (its sublayers too) with the array the file holds for it; nothing is
    assigned, so a file that fails half-way leaves the model as it was.

    Raises:
        Malformed: a missing group, a different number of weights, or an array of another shape or kind.
    """
    own = layer.own_weights()
    arrays = group.variables()
    if len(arrays) != len(own):
        raise Malformed(f"{group.where or '/'} holds {len(arrays)} weights, layer {layer.name!r} has {len(own)} "
                        f"({[v.shape for v in own]})")
    found = [(variable, array.read(variable.shape)) for variable, array in zip(own, arrays)]
    for key, child in _children(layer):
        subgroup = _child(group, key, layer)
        if isinstance(child, list):
            for item_key, item in zip(_list_keys(child), child):
                found += tree_arrays(item, _child(subgroup, item_key, item))
        else:
            found += tree_arrays(child, subgroup)
    return found
