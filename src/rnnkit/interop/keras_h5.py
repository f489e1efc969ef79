"""Keras 3 ``.weights.h5`` files as plain trees (needs ``h5py``, the ``keras-weights`` extra).

Keras 3 writes one HDF5 group per saved object, nested like the objects: ``layers/lstm/cell/vars/0``.
A tree here is ``{"name": str, "vars": [arrays in order], "children": {key: tree}}``; the keys are
Keras' (the snake-case class name, ``_1``, ``_2``, ... for repeats in a list; attribute names such as
``cell`` or ``forward_layer`` for nested objects). This module knows nothing of the layers: the
Keras front maps its models onto trees.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise ValueError("filepath: reading or writing .h5 weights needs h5py (pip install rnnkit[keras-weights])") \
            from err
    return h5py


def _read_group(group: Any) -> dict:
    tree: dict[str, Any] = {"name": None, "vars": [], "children": {}}
    for key in group.keys():
        item = group[key]
        if key == "vars":
            tree["name"] = item.attrs.get("name")
            tree["name"] = tree["name"].decode() if isinstance(tree["name"], bytes) else tree["name"]
            tree["vars"] = [np.asarray(item[k]) for k in sorted(item.keys(), key=int)]
        elif hasattr(item, "keys"):
            tree["children"][key] = _read_group(item)
    return tree


def read_weights_h5(path: str | Path) -> dict:
    """The tree of a Keras 3 ``.weights.h5`` file (also the ``model.weights.h5`` inside a ``.keras`` zip
    when given an open file object)."""
    h5py = _h5py()
    with h5py.File(path, "r") as handle:
        return _read_group(handle)


def _write_group(group: Any, tree: dict) -> None:
    variables = group.create_group("vars")
    if tree.get("name") is not None:
        variables.attrs["name"] = tree["name"]
    for index, array in enumerate(tree.get("vars", [])):
        variables.create_dataset(str(index), data=np.asarray(array))
    for key, child in tree.get("children", {}).items():
        _write_group(group.create_group(key), child)


def write_weights_h5(path: str | Path, tree: dict) -> None:
    """Writes a tree as a Keras 3 ``.weights.h5`` file (Keras' ``model.load_weights`` reads it)."""
    h5py = _h5py()
    with h5py.File(path, "w") as handle:
        _write_group(handle, tree)
