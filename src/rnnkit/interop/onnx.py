"""ONNX export of trained models, checked with onnxruntime (the ``onnx`` extra).

``exporter="auto"`` (the default) first tries torch's ``torch.export``-based exporter
(``torch.onnx.export(..., dynamo=True)``, written through onnxscript) and keeps its file only when
onnxruntime reproduces the eager outputs on the example and on probes that use the free dimensions
(one more row when the batch is free, one more step when the time is free). Otherwise it exports
again with the TorchScript exporter (``dynamo=False``), which traces one call. The file records which
exporter wrote it (:func:`exporter_of`); docs/interop.md says which layers take which and why.
torch's warnings from either exporter are left as they are.

Under the TorchScript exporter, layers on torch's fused kernels export as ONNX ``RNN`` / ``LSTM`` /
``GRU`` nodes; any layer that runs rnnkit's Python time loop (variant cells, user cells, Keras masks
that are not right padding) is unrolled for the example's number of steps, so the file then serves
only that sequence length. When a layer would take a hand-derived BPTT kernel (variant cells), the
export runs under :func:`rnnkit.kernels.force_loop`: those kernels do not trace into a correct graph.
The trace also fixes every data-dependent choice at the example's: give an example whose Keras
masks look like the data's (e.g. some rows right-padded), or the masking route is traced away.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..kernels import BPTT, force_loop
from .errors import Malformed, MissingDependency, reading

EXPORTERS = ("auto", "dynamo", "torchscript")
METADATA_KEY = "rnnkit.exporter"
TORCHSCRIPT_OPSET = 17
"""The TorchScript exporter's opset when none is given (the dynamo exporter picks its own)."""
TOLERANCE = 1e-4
"""``auto`` keeps a torch.export file when its outputs are within ``TOLERANCE * (1 + max |eager|)``."""
WHAT = "ONNX model"
logger = logging.getLogger(__name__)


def _as_tuple(inputs: Any) -> tuple:
    return tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)


def _onnx_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise MissingDependency(f"path: ONNX export and checks need {name} (pip install rnnkit[onnx])") from err


def _uses_bptt_kernels(model: nn.Module) -> bool:
    return any(str(getattr(module, "fast_path", "")).startswith(BPTT) for module in model.modules()
               if hasattr(type(module), "fast_path"))


def _free_axes(args: tuple, dynamic_batch: bool, dynamic_time: bool) -> list[dict[int, str]]:
    """The free dimensions of each input: ``{0: "batch", 1: "time"}`` (time only for 3-d inputs)."""
    return [{**({0: "batch"} if dynamic_batch else {}), **({1: "time"} if dynamic_time and a.dim() == 3 else {})}
            for a in args]


def _grown(args: tuple, axes: list[dict[int, str]], name: str) -> tuple:
    """The inputs with the free dimension ``name`` one longer (its first slice repeated) where they have it."""
    grown = []
    for arg, free in zip(args, axes):
        axis = next((k for k, v in free.items() if v == name), None)
        grown.append(arg if axis is None else torch.cat([arg, arg.narrow(axis, 0, 1)], dim=axis))
    return tuple(grown)


def _probes(args: tuple, axes: list[dict[int, str]]) -> list[tuple]:
    """The example, then one input set per free dimension grown by one."""
    used = {name for free in axes for name in free.values()}
    return [args] + [_grown(args, axes, name) for name in ("batch", "time") if name in used]


def _stamp(path: Path, exporter: str) -> None:
    """Records ``exporter`` in the file's metadata (``rnnkit.exporter``)."""
    onnx = _onnx_module("onnx")
    model = onnx.load(str(path), load_external_data=False)
    model.metadata_props.add(key=METADATA_KEY, value=exporter)
    onnx.save(model, str(path))


def _torchscript(model: nn.Module, args: tuple, path: Path, names: tuple[list, list], axes: list[dict],
                 opset_version: int | None) -> None:
    input_names, output_names = names
    dynamic_axes = {name: free for name, free in zip(input_names, axes) if free}
    if any(0 in free for free in axes):
        dynamic_axes.update({name: {0: "batch"} for name in output_names})
    loop = force_loop() if _uses_bptt_kernels(model) else contextlib.nullcontext()
    with torch.no_grad(), loop:
        torch.onnx.export(model, args, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes or None, opset_version=opset_version or TORCHSCRIPT_OPSET,
                          dynamo=False)
    _stamp(path, "torchscript")


def _dynamic_shapes(model: nn.Module, axes: list[dict[int, str]]) -> tuple | None:
    """``torch.export``'s ``dynamic_shapes`` for the free axes, shaped like ``forward``'s positional
    parameters (the inputs that fill a ``*args`` parameter go into one tuple)."""
    if not any(axes):
        return None
    dims = {name: torch.export.Dim(name) for name in ("batch", "time")}
    specs = [{axis: dims[name] for axis, name in free.items()} for free in axes]
    shaped: list = []
    for parameter in inspect.signature(model.forward).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return (*shaped, tuple(specs[len(shaped):]))
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) \
                and len(shaped) < len(specs):
            shaped.append(specs[len(shaped)])
    return tuple(shaped)


def _dynamo(model: nn.Module, args: tuple, path: Path, names: tuple[list, list], axes: list[dict],
            opset_version: int | None) -> None:
    with torch.no_grad():   # capture first: a model torch.export cannot take fails here, with torch's reason
        captured = torch.export.export(model, args, dynamic_shapes=_dynamic_shapes(model, axes), strict=False)
        program = torch.onnx.export(captured, args, None, input_names=names[0], output_names=names[1],
                                    opset_version=opset_version, dynamo=True, verbose=False)
    program.model.metadata_props[METADATA_KEY] = "dynamo"
    program.save(str(path))


def _disagreement(model: nn.Module, path: Path, probes: list[tuple]) -> str | None:
    """Why the file at ``path`` does not reproduce ``model`` on ``probes`` (None when it does)."""
    for probe in probes:
        try:
            difference, scale = _compare(model, path, probe)
        except Exception as err:   # onnxruntime refusing a shape is a disagreement, not an export failure
            return f"onnxruntime failed on inputs of shapes {[tuple(a.shape) for a in probe]}: {err}"
        if not difference <= TOLERANCE * (1.0 + scale):
            return f"outputs differ by {difference:.3g} on inputs of shapes {[tuple(a.shape) for a in probe]}"
    return None


def _root_cause(err: BaseException) -> str:
    """The innermost cause of an exporter's error, in one line."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def _export_auto(model: nn.Module, args: tuple, path: Path, names: tuple[list, list], axes: list[dict],
                 opset_version: int | None) -> None:
    _onnx_module("onnxruntime")
    try:
        _dynamo(model, args, path, names, axes, opset_version)
        reason = _disagreement(model, path, _probes(args, axes))
    except Exception as err:   # torch.export cannot capture the model: the TorchScript exporter traces it
        reason = _root_cause(err)
    if reason is None:
        return
    logger.info("export_onnx: the torch.export-based exporter did not give a matching file (%s); "
                "exporting with the TorchScript exporter", reason)
    try:
        _torchscript(model, args, path, names, axes, opset_version)
    except Exception as err:
        raise ValueError(f"model: neither ONNX exporter can write it (torch.export-based: {reason}; "
                         f"TorchScript: {_root_cause(err)})") from err


def export_onnx(model: nn.Module, example_inputs: Any, path: str | Path, *,
                input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
                dynamic_batch: bool = True, dynamic_time: bool = False, opset_version: int | None = None,
                exporter: str = "auto") -> Path:
    """Writes ``model`` (in eval mode) as an ONNX file for inputs like ``example_inputs``; returns the path.

    Arguments:
        example_inputs: one tensor or a tuple of tensors, as the model is called.
        input_names / output_names: graph names (default ``input_0``, ... / ``output_0``, ...).
        dynamic_batch: keep dimension 0 of every input and output free.
        dynamic_time: also keep dimension 1 of 3-d inputs free (under TorchScript right only when every
            recurrent layer runs a fused kernel; check it with :func:`check_onnx` at another length).
        opset_version: the ONNX opset (default: 17 for TorchScript, the dynamo exporter's own otherwise).
        exporter: ``"auto"`` (torch.export-based when onnxruntime confirms its file, else TorchScript),
            ``"dynamo"`` or ``"torchscript"`` (that exporter only; its errors propagate).
    Returns:
        The path; :func:`exporter_of` tells which exporter wrote it.
    Raises:
        ValueError: example inputs that are not tensors, an unknown exporter, or (``auto``) a model neither
            exporter can write, with both reasons.
    """
    args = _as_tuple(example_inputs)
    if not args or not all(isinstance(a, torch.Tensor) for a in args):
        raise ValueError(f"example_inputs: expected a tensor or a tuple of tensors, "
                         f"got {type(example_inputs).__name__}")
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter: expected one of {EXPORTERS}, got {exporter!r}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = _as_tuple(model(*args))
        names = (list(input_names or [f"input_{k}" for k in range(len(args))]),
                 list(output_names or [f"output_{k}" for k in range(len(outputs))]))
        axes = _free_axes(args, dynamic_batch, dynamic_time)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        export = {"auto": _export_auto, "dynamo": _dynamo, "torchscript": _torchscript}[exporter]
        export(model, args, path, names, axes, opset_version)
    finally:
        model.train(was_training)
    return path


def exporter_of(path: str | Path) -> str:
    """Which exporter wrote an ONNX file of :func:`export_onnx`: ``"dynamo"`` or ``"torchscript"``.

    Raises:
        FileFormatError: not an ONNX file, or one :func:`export_onnx` did not write.
    """
    onnx = _onnx_module("onnx")
    with reading(path, WHAT, "path"):
        model = onnx.load(str(path), load_external_data=False)
        found = {entry.key: entry.value for entry in model.metadata_props}.get(METADATA_KEY)
        if found not in EXPORTERS[1:]:
            raise Malformed(f"has no {METADATA_KEY} record; it was not written by rnnkit's export_onnx")
        return found


def run_onnx(path: str | Path, inputs: Any) -> list[np.ndarray]:
    """The outputs of an ONNX file under onnxruntime (CPU) for ``inputs`` (tensors or arrays).

    Raises:
        FileFormatError: a file onnxruntime cannot load.
    """
    onnxruntime = _onnx_module("onnxruntime")
    with reading(path, WHAT, "path"):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for spec, value in zip(session.get_inputs(), _as_tuple(inputs)):
        feeds[spec.name] = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return session.run(None, feeds)


def _compare(model: nn.Module, path: str | Path, inputs: Any) -> tuple[float, float]:
    """``(largest |eager - ONNX|, largest |eager|)`` over all outputs, the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = [o.detach().cpu().numpy() for o in _as_tuple(model(*_as_tuple(inputs)))]
    finally:
        model.train(was_training)
    got = run_onnx(path, inputs)
    if len(got) != len(expected):
        raise ValueError(f"path: the ONNX file has {len(got)} outputs, the model {len(expected)}")
    if any(e.shape != g.shape for e, g in zip(expected, got)):
        raise ValueError(f"path: the ONNX file gives outputs of shapes {[g.shape for g in got]}, the model "
                         f"{[e.shape for e in expected]}")
    return (max(float(np.abs(e - g).max(initial=0.0)) for e, g in zip(expected, got)),
            max(float(np.abs(e).max(initial=0.0)) for e in expected))


def check_onnx(model: nn.Module, path: str | Path, inputs: Any) -> float:
    """The largest absolute difference between ``model(*inputs)`` (eval mode) and the ONNX file's outputs."""
    return _compare(model, path, inputs)[0]
