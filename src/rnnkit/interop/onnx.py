"""ONNX export of trained models, checked with onnxruntime (the ``onnx`` extra).

Export uses torch's TorchScript exporter (``dynamo=False``): it traces one call on example inputs.
Layers on torch's fused kernels export as ONNX ``RNN`` / ``LSTM`` / ``GRU`` nodes; any layer that
runs rnnkit's Python time loop (variant cells, user cells, Keras masks that are not right padding)
is unrolled for the example's number of steps, so the file then serves only that sequence length.
When a layer would take a hand-derived BPTT kernel (variant cells), the whole export runs under
:func:`rnnkit.kernels.force_loop` instead: those kernels do not trace into a correct graph.

The trace also fixes every data-dependent choice at the example's: give an example whose Keras
masks look like the data's (e.g. some rows right-padded), or the masking route is traced away.
The batch dimension stays dynamic; ``dynamic_time=True`` frees dimension 1 of 3-d inputs too, which
is right only when every recurrent layer runs a fused kernel (check it with :func:`check_onnx` at
another length).
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..kernels import BPTT, force_loop


def _as_tuple(inputs: Any) -> tuple:
    return tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)


def _uses_bptt_kernels(model: nn.Module) -> bool:
    return any(str(getattr(module, "fast_path", "")).startswith(BPTT) for module in model.modules()
               if hasattr(type(module), "fast_path"))


def export_onnx(model: nn.Module, example_inputs: Any, path: str | Path, *,
                input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
                dynamic_batch: bool = True, dynamic_time: bool = False, opset_version: int = 17) -> Path:
    """Writes ``model`` (in eval mode) as an ONNX file traced on ``example_inputs``; returns the path.

    Arguments:
        example_inputs: one tensor or a tuple of tensors, as the model is called.
        input_names / output_names: graph names (default ``input_0``, ... / ``output_0``, ...).
        dynamic_batch: keep dimension 0 of every input and output free.
        dynamic_time: also keep dimension 1 of 3-d inputs free (see the module docstring).
    Raises:
        ValueError: example inputs that are not tensors, or a model that produces no tensor.
    """
    args = _as_tuple(example_inputs)
    if not args or not all(isinstance(a, torch.Tensor) for a in args):
        raise ValueError(f"example_inputs: expected a tensor or a tuple of tensors, "
                         f"got {type(example_inputs).__name__}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = _as_tuple(model(*args))
        input_names = list(input_names or [f"input_{k}" for k in range(len(args))])
        output_names = list(output_names or [f"output_{k}" for k in range(len(outputs))])
        dynamic_axes: dict[str, dict[int, str]] = {}
        for name, tensor in [*zip(input_names, args), *zip(output_names, outputs)]:
            axes = {0: "batch"} if dynamic_batch else {}
            if dynamic_time and tensor.dim() == 3 and name in input_names:
                axes[1] = "time"
            if axes:
                dynamic_axes[name] = axes
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        loop = force_loop() if _uses_bptt_kernels(model) else contextlib.nullcontext()
        with warnings.catch_warnings(), torch.no_grad(), loop:
            warnings.simplefilter("ignore")   # tracer notes on Python control flow: the trace fixes it
            torch.onnx.export(model, args, str(path), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes or None, opset_version=opset_version, dynamo=False)
    finally:
        model.train(was_training)
    return path


def run_onnx(path: str | Path, inputs: Any) -> list[np.ndarray]:
    """The outputs of an ONNX file under onnxruntime (CPU) for ``inputs`` (tensors or arrays)."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ValueError("path: running ONNX files needs onnxruntime (pip install rnnkit[onnx])") from err
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for spec, value in zip(session.get_inputs(), _as_tuple(inputs)):
        feeds[spec.name] = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return session.run(None, feeds)


def check_onnx(model: nn.Module, path: str | Path, inputs: Any) -> float:
    """The largest absolute difference between ``model(*inputs)`` (eval mode) and the ONNX file's outputs."""
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
    return max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
