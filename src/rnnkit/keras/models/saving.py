"""Saving and loading: whole models (a zip of JSON + safetensors, no pickle) and weights.

``model.save(path)`` writes a zip: ``config.json`` (the model's config and, when the compile
arguments are names, those too), ``metadata.json`` and ``model.safetensors`` (the Keras weights,
keyed ``"<index>:<path>"`` in ``model.weights`` order). ``load_model`` rebuilds, loads and recompiles.
It is this front's own format: Keras itself cannot read it.

Weights alone: ``*.h5`` files use Keras 3's ``.weights.h5`` layout in both directions, so weights
move between Keras and rnnkit models of the same architecture; a Keras ``.keras`` archive's
``model.weights.h5`` is read too. Other paths hold safetensors.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from ...interop.keras_h5 import read_weights_h5, write_weights_h5
from .._serial import to_snake_case
from ..layers.base import Layer

FORMAT = "rnnkit.keras/1"


def _safetensors():
    try:
        from safetensors.torch import load, save
    except ImportError as err:
        raise ValueError("filepath: saving needs safetensors (pip install rnnkit[train])") from err
    return load, save


def _check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ValueError(f"filepath: {path} exists and overwrite=False")


def _weight_tensors(model: Layer) -> dict[str, torch.Tensor]:
    return {f"{k}:{v.path}": v.value().detach().cpu().contiguous() for k, v in enumerate(model.weights)}


def _assign_tensors(model: Layer, tensors: dict[str, torch.Tensor], source: Any) -> None:
    variables = model.weights
    ordered = sorted(tensors.items(), key=lambda item: int(item[0].split(":", 1)[0]))
    if len(ordered) != len(variables):
        raise ValueError(f"filepath: {source} holds {len(ordered)} weights, the model has {len(variables)}")
    for variable, (_, tensor) in zip(variables, ordered):
        variable.assign(tensor)


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


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True) -> Any:
    """Rebuilds a model written by ``model.save`` (weights loaded; recompiled when it was compiled by name).

    Raises:
        ValueError: not a file written by ``model.save``.
    """
    from ..serialization import deserialize_layer
    load, _ = _safetensors()
    path = Path(filepath)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"filepath: {path} is not a model archive written by model.save")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "model.safetensors" not in names:
            raise ValueError(f"filepath: {path} is not a model archive written by model.save "
                             f"(it holds {sorted(names)}); for a Keras .keras file, build the model in "
                             "rnnkit.keras and call load_weights")
        config = json.loads(archive.read("config.json"))
        tensors = load(archive.read("model.safetensors"))
    model = deserialize_layer(config["model"], custom_objects)
    if not model.built:
        raise ValueError(f"filepath: {path} holds a model without an input shape; it cannot be rebuilt")
    _assign_tensors(model, tensors, path)
    if compile and config.get("compile"):
        model.compile(**config["compile"])
    return model


def _version() -> str:
    from ... import __version__
    return __version__


# ---- weights ------------------------------------------------------------------------------------
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


def load_tree(layer: Layer, tree: dict, where: str = "") -> None:
    """Assigns a ``.weights.h5`` tree to a built layer.

    Raises:
        ValueError: a missing group or a different number / shape of weights, naming the path.
    """
    own = layer.own_weights()
    if len(tree["vars"]) != len(own):
        raise ValueError(f"filepath: {where or '/'} holds {len(tree['vars'])} weights, layer {layer.name!r} has "
                         f"{len(own)} ({[v.shape for v in own]})")
    for variable, array in zip(own, tree["vars"]):
        variable.assign(array)
    for key, child in _children(layer):
        if key not in tree["children"]:
            raise ValueError(f"filepath: no group {where}/{key} for layer {layer.name!r}; the file's groups there "
                             f"are {sorted(tree['children'])}")
        subtree = tree["children"][key]
        if isinstance(child, list):
            for k, c in zip(_list_keys(child), child):
                if k not in subtree["children"]:
                    raise ValueError(f"filepath: no group {where}/{key}/{k} for layer {c.name!r}; found "
                                     f"{sorted(subtree['children'])}")
                load_tree(c, subtree["children"][k], f"{where}/{key}/{k}")
        else:
            load_tree(child, subtree, f"{where}/{key}")


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


def load_weights(model: Any, filepath: Any) -> None:
    path = Path(filepath)
    if not path.exists():
        raise ValueError(f"filepath: {path} does not exist")
    if not model.built:
        raise ValueError(f"{model.name}: build the model (call it on data or start it with Input) "
                         "before load_weights")
    if path.suffix == ".h5":
        load_tree(model, read_weights_h5(path))
        return
    load, _ = _safetensors()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "model.weights.h5" in names:  # a Keras 3 .keras archive
                load_tree(model, read_weights_h5(io.BytesIO(archive.read("model.weights.h5"))))
                return
            if "model.safetensors" not in names:
                raise ValueError(f"filepath: {path} holds neither model.weights.h5 nor model.safetensors")
            tensors = load(archive.read("model.safetensors"))
    else:
        tensors = load(path.read_bytes())
    _assign_tensors(model, tensors, path)
