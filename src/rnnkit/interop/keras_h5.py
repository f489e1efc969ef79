"""Keras 3 ``.weights.h5`` files, read lazily and with caps (needs ``h5py``, the ``keras`` extra).

Keras 3 writes one HDF5 group per saved object, nested like the objects: ``layers/lstm/vars/0``.
The keys are Keras' (the snake-case class name, ``_1``, ``_2``, ... for repeats in a list; attribute
names such as ``cell`` or ``forward_layer`` for nested objects). This module knows nothing of the
layers: the Keras front walks a :class:`WeightsGroup` along its model and reads only the arrays the
model asks for, each checked against the shape it expects before a byte of it is read.

:func:`read_weights_h5` reads a whole file as a plain tree
``{"name": str, "vars": [arrays in order], "children": {key: tree}}`` under the caps below.
Weight files hold groups and numeric datasets only: soft and external links, datasets stored in other
files and non-numeric datasets are refused (:class:`~rnnkit.interop.errors.FileFormatError`).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import Malformed, MissingDependency, reading

MAX_OBJECTS = 100_000
"""Most groups and datasets :func:`read_weights_h5` visits, and most entries one group may list."""
MAX_ARRAY_BYTES = 4 * 2 ** 30
"""Most bytes of arrays :func:`read_weights_h5` reads from one file: 4 GiB."""
MAX_DEPTH = 64
"""Deepest nesting of groups :func:`read_weights_h5` follows (hard links can make cycles)."""
MAX_NAME_BYTES = 4096
"""Largest ``name`` attribute of a ``vars`` group."""
WHAT = "Keras .weights.h5 file"


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise MissingDependency("filepath: reading or writing .h5 weights needs h5py "
                                "(pip install rnnkit[keras])") from err
    return h5py


class WeightsArray:
    """One dataset of a ``vars`` group, not read yet: its ``shape`` and where it is (``where``)."""

    def __init__(self, dataset: Any, where: str):
        self.dataset, self.where = dataset, where
        self.shape = tuple(dataset.shape or ())

    def read(self, shape: tuple[int, ...] | None = None, budget: int | None = None) -> np.ndarray:
        """The array, after checking its dtype and storage, and ``shape`` or its size against ``budget``.

        Raises:
            Malformed: not numbers, data kept outside the file, another shape, or over the budget.
        """
        dtype = self.dataset.dtype
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise Malformed(f"{self.where} holds values of dtype {dtype}, expected numbers")
        if self.dataset.is_virtual or self.dataset.external:
            raise Malformed(f"{self.where} keeps its data outside this file; weight files hold their own")
        if shape is not None and self.shape != tuple(shape):
            raise Malformed(f"{self.where} has shape {self.shape}, expected {tuple(shape)}")
        if budget is not None and self.dataset.nbytes > budget:
            raise Malformed(f"{self.where} holds {self.dataset.nbytes:,} bytes, over the {budget:,} left to read "
                            f"(rnnkit.interop.keras_h5.MAX_ARRAY_BYTES)")
        array = np.asarray(self.dataset[()])
        return array.astype(dtype.newbyteorder("="), copy=False)


class WeightsGroup:
    """A group of a ``.weights.h5`` file seen lazily: its children and its ``vars`` are opened on demand.

    Arguments:
        group: the h5py group.
        where: its path in the file, for messages (``/layers/lstm``).
    """

    def __init__(self, group: Any, where: str = ""):
        self.group, self.where = group, where

    def _entries(self, group: Any, where: str) -> list[str]:
        if len(group) > MAX_OBJECTS:
            raise Malformed(f"{where or '/'} lists {len(group):,} entries, over the limit of {MAX_OBJECTS:,} "
                            f"(rnnkit.interop.keras_h5.MAX_OBJECTS)")
        return list(group.keys())

    def _open(self, key: str, kind: str) -> Any:
        """The hard-linked group or dataset ``key`` of this group, or None when there is none."""
        h5py = _h5py()
        link = self.group.get(key, getlink=True)
        if link is None:
            return None
        where = f"{self.where}/{key}"
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            raise Malformed(f"{where} is {kind}; weight files hold groups and datasets only")
        item = self.group[key]
        expected = h5py.Group if kind == "group" else h5py.Dataset
        if not isinstance(item, expected):
            raise Malformed(f"{where} is not a {kind}")
        return item

    def keys(self) -> list[str]:
        """The keys of the child groups (``vars`` excluded)."""
        return [key for key in self._entries(self.group, self.where) if key != "vars"]

    def child(self, key: str) -> "WeightsGroup | None":
        """The child group ``key``, or None when the file has none."""
        group = self._open(key, "group")
        return None if group is None else WeightsGroup(group, f"{self.where}/{key}")

    def variables(self) -> list[WeightsArray]:
        """The datasets of this group's ``vars`` in order (none when it has no ``vars``), unread.

        Raises:
            Malformed: keys that are not ``0``, ``1``, ... in a row, or entries that are not datasets.
        """
        vars_group = self._open("vars", "group")
        if vars_group is None:
            return []
        where = f"{self.where}/vars"
        keys = self._entries(vars_group, where)
        if sorted(keys) != sorted(str(index) for index in range(len(keys))):
            raise Malformed(f"{where} holds keys {sorted(keys)[:20]}, expected 0, 1, 2, ...")
        group = WeightsGroup(vars_group, where)
        return [WeightsArray(group._open(str(index), "dataset"), f"{where}/{index}") for index in range(len(keys))]

    @property
    def name(self) -> str | None:
        """The ``name`` attribute Keras puts on ``vars`` (the object's name), or None."""
        vars_group = self._open("vars", "group")
        if vars_group is None or "name" not in vars_group.attrs:
            return None
        if vars_group.attrs.get_id("name").get_storage_size() > MAX_NAME_BYTES:
            raise Malformed(f"{self.where}/vars has a name attribute over {MAX_NAME_BYTES} bytes")
        name = vars_group.attrs["name"]
        name = name.decode() if isinstance(name, bytes) else name
        if not isinstance(name, str):
            raise Malformed(f"{self.where}/vars has a name attribute that is not a string")
        return name


@contextlib.contextmanager
def open_weights_h5(path: str | Path | Any) -> Iterator[WeightsGroup]:
    """The root :class:`WeightsGroup` of a ``.weights.h5`` file (a path or a binary file object), open
    for the ``with`` body. Read it inside :func:`~rnnkit.interop.errors.reading`."""
    with _h5py().File(path, "r") as handle:
        yield WeightsGroup(handle)


class _Budget:
    """What a whole-file read may still visit: objects (groups and datasets) and array bytes."""

    def __init__(self) -> None:
        self.objects, self.bytes = MAX_OBJECTS, MAX_ARRAY_BYTES

    def visit(self, where: str) -> None:
        self.objects -= 1
        if self.objects < 0:
            raise Malformed(f"{where or '/'}: more than {MAX_OBJECTS:,} groups and datasets "
                            f"(rnnkit.interop.keras_h5.MAX_OBJECTS)")


def _read_tree(group: WeightsGroup, budget: _Budget, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise Malformed(f"groups nest deeper than {MAX_DEPTH} (a cycle of links?) under {group.where[:80]}")
    budget.visit(group.where)
    arrays = []
    for variable in group.variables():
        budget.visit(variable.where)
        arrays.append(variable.read(budget=budget.bytes))
        budget.bytes -= arrays[-1].nbytes
    children = {key: _read_tree(group.child(key), budget, depth + 1) for key in group.keys()}
    return {"name": group.name, "vars": arrays, "children": children}


def read_weights_h5(path: str | Path | Any) -> dict:
    """The tree of a Keras 3 ``.weights.h5`` file (a path or a binary file object).

    Raises:
        FileFormatError: a file that is not one, or one over :data:`MAX_OBJECTS` / :data:`MAX_ARRAY_BYTES`.
    """
    with reading(path, WHAT), open_weights_h5(path) as root:
        return _read_tree(root, _Budget(), 0)


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
