"""Saving and loading: whole models (a zip of JSON + safetensors, no pickle) and weights.

``model.save(path)`` writes a zip: ``config.json`` (the model's config and, when the compile
arguments are names, those too), ``metadata.json`` and ``model.safetensors`` (the Keras weights,
keyed ``"<index>:<path>"`` in ``model.weights`` order). ``load_model`` rebuilds, loads and recompiles.
It is this front's own format: Keras itself cannot read it.

Weights alone: ``*.h5`` files use Keras 3's ``.weights.h5`` layout in both directions, so weights
move between Keras and rnnkit models of the same architecture; a Keras ``.keras`` archive's
``model.weights.h5`` is read too. Other paths hold safetensors.

Loading treats files as untrusted: every read runs inside :func:`rnnkit.interop.errors.reading`
(any fault is a ``ValueError`` naming the file), archive members stream to a temporary file under
the caps of :mod:`rnnkit.interop.archives`, and only the arrays the model has are read, each checked
against its weight's shape first. Weights are assigned only once the whole file has been read.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...interop import archives
from ...interop.errors import Malformed, MissingDependency, reading
from ...interop.keras_h5 import WHAT as H5_WHAT
from ...interop.keras_h5 import open_weights_h5, write_weights_h5
from ..layers.base import Layer, Variable
from .weight_tree import layer_tree, tree_arrays

FORMAT = "rnnkit.keras/1"
ARCHIVE_WHAT = "rnnkit.keras model archive"
ARCHIVE_WEIGHTS_WHAT = "weights archive"
TENSORS_WHAT = "safetensors weights file"


def _safetensors():
    try:
        from safetensors import safe_open
        from safetensors.torch import save
    except ImportError as err:
        raise MissingDependency("filepath: saving and loading need safetensors (pip install rnnkit[keras])") \
            from err
    return safe_open, save


def _check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ValueError(f"filepath: {path} exists and overwrite=False")


def _weight_tensors(model: Layer) -> dict[str, torch.Tensor]:
    return {f"{k}:{v.path}": v.value().detach().cpu().contiguous() for k, v in enumerate(model.weights)}


def _ordered_keys(keys: list[str], count: int) -> list[str]:
    """The keys ``"<index>:<path>"`` of a weights file in index order.

    Raises:
        Malformed: another number of weights than ``count``, or indices that are not 0, 1, ... in a row.
    """
    if len(keys) != count:
        raise Malformed(f"holds {len(keys)} weights, the model has {count}")
    indexed = {}
    for key in keys:
        index = key.split(":", 1)[0]
        indexed[int(index) if index.isascii() and index.isdigit() else -1] = key
    if sorted(indexed) != list(range(count)):
        raise Malformed(f"holds keys {sorted(keys)[:10]}, expected '<index>:<path>' for indices 0 to {count - 1}")
    return [indexed[index] for index in range(count)]


def _tensor_arrays(model: Layer, path: Path) -> list[tuple[Variable, torch.Tensor]]:
    """Each weight of ``model`` with its tensor in the safetensors file ``path`` (read lazily, shapes first)."""
    safe_open, _ = _safetensors()
    variables = model.weights
    found = []
    with safe_open(str(path), framework="pt") as handle:
        for variable, key in zip(variables, _ordered_keys(list(handle.keys()), len(variables))):
            shape = tuple(handle.get_slice(key).get_shape())
            if shape != variable.shape:
                raise Malformed(f"{key} has shape {shape}, weight {variable.path} has {variable.shape}")
            found.append((variable, handle.get_tensor(key)))
    return found


def _h5_arrays(model: Layer, source: Path) -> list[tuple[Variable, np.ndarray]]:
    with open_weights_h5(source) as root:
        return tree_arrays(model, root)


def _assign(found: list[tuple[Variable, Any]]) -> None:
    for variable, value in found:
        variable.assign(value)


def _compile_config(model: Any) -> dict | None:
    arguments = getattr(model, "compile_arguments", None)
    if not arguments:
        return None
    try:
        json.dumps(arguments)
    except (TypeError, ValueError):
        return None
    return arguments


def save_model(model: Any, filepath: Any, overwrite: bool = True) -> None:
    from ..serialization import serialize_layer
    _, save = _safetensors()
    path = Path(filepath)
    _check_overwrite(path, overwrite)
    if not model.built:
        raise ValueError(f"{model.name}: the model is not built yet; call it on data (or fit) before saving")
    config = {"format": FORMAT, "model": serialize_layer(model), "compile": _compile_config(model)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(config, indent=1))
        archive.writestr("metadata.json", json.dumps({"format": FORMAT, "rnnkit": _version()}))
        archive.writestr("model.safetensors", save(_weight_tensors(model)))


def _rebuild(path: Path, custom_objects: dict | None) -> tuple[Any, dict]:
    """The model of an archive written by ``model.save``, with its weights, and the archive's config."""
    from ..serialization import deserialize_layer
    with archives.open_zip(path) as archive, tempfile.TemporaryDirectory() as scratch:
        if "model.safetensors" not in archive.namelist():
            raise Malformed(f"not a model archive written by model.save (it holds {sorted(archive.namelist())[:20]});"
                            " for a Keras .keras file, build the model in rnnkit.keras and call load_weights")
        config = json.loads(archives.read_json_member(archive, "config.json"))
        if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
            raise Malformed("config.json holds no model config")
        model = deserialize_layer(config["model"], custom_objects)
        if not model.built:
            raise Malformed("holds a model without an input shape; it cannot be rebuilt")
        _assign(_tensor_arrays(model, archives.extract_member(archive, "model.safetensors", scratch)))
    return model, config


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True) -> Any:
    """Rebuilds a model written by ``model.save`` (weights loaded; recompiled when it was compiled by name).

    Raises:
        ValueError: not a file written by ``model.save`` (a :class:`~rnnkit.interop.errors.FileFormatError`
            naming the file and the fault).
    """
    path = Path(filepath)
    with reading(path, ARCHIVE_WHAT):
        model, config = _rebuild(path, custom_objects)
    if compile and config.get("compile"):
        model.compile(**config["compile"])
    return model


def _version() -> str:
    from ... import __version__
    return __version__


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    path = Path(filepath)
    _check_overwrite(path, overwrite)
    if not model.built:
        raise ValueError(f"{model.name}: the model is not built yet; call it on data before saving weights")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".h5":
        write_weights_h5(path, layer_tree(model))
        return
    _, save = _safetensors()
    path.write_bytes(save(_weight_tensors(model)))


def _archive_arrays(model: Layer, path: Path) -> list[tuple[Variable, Any]]:
    """The weights inside a zip: a Keras 3 ``.keras`` archive's ``model.weights.h5``, or ``model.save``'s."""
    with archives.open_zip(path) as archive, tempfile.TemporaryDirectory() as scratch:
        names = set(archive.namelist())
        if "model.weights.h5" in names:
            source = archives.extract_member(archive, "model.weights.h5", scratch)
            with reading(f"{path} (model.weights.h5)", H5_WHAT):
                return _h5_arrays(model, source)
        if "model.safetensors" in names:
            return _tensor_arrays(model, archives.extract_member(archive, "model.safetensors", scratch))
    raise Malformed("holds neither model.weights.h5 nor model.safetensors")


def load_weights(model: Any, filepath: Any) -> None:
    """Reads weights from a Keras ``.weights.h5`` / ``.keras`` file or this front's files into a built model.

    Raises:
        ValueError: a missing file, an unbuilt model, or a file that does not hold this model's weights
            (a :class:`~rnnkit.interop.errors.FileFormatError` naming the file and the fault).
    """
    path = Path(filepath)
    if not path.is_file():
        raise ValueError(f"filepath: {path} does not exist or is not a file")
    if not model.built:
        raise ValueError(f"{model.name}: build the model (call it on data or start it with Input) "
                         "before load_weights")
    if path.suffix == ".h5":
        with reading(path, H5_WHAT):
            found = _h5_arrays(model, path)
    elif zipfile.is_zipfile(path):
        with reading(path, ARCHIVE_WEIGHTS_WHAT):
            found = _archive_arrays(model, path)
    else:
        with reading(path, TENSORS_WHAT):
            found = _tensor_arrays(model, path)
    _assign(found)
