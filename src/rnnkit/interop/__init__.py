"""Model interop: torch.nn recurrent modules, Keras 3 ``.weights.h5`` files, ONNX export.

Every function here that reads a file turns a file it cannot read into a
:class:`~rnnkit.interop.errors.FileFormatError` (a ``ValueError``) naming the file and the fault; the
size caps on what it reads are constants of :mod:`~rnnkit.interop.archives` and
:mod:`~rnnkit.interop.keras_h5` (docs/interop.md lists them).
"""
from .errors import FileFormatError
from .keras_h5 import read_weights_h5, write_weights_h5
from .onnx import check_onnx, export_onnx, exporter_of, run_onnx
from .torch_nn import from_torch, to_torch, torch_state_dict

__all__ = ["FileFormatError", "check_onnx", "export_onnx", "exporter_of", "from_torch", "read_weights_h5", "run_onnx",
           "to_torch", "torch_state_dict", "write_weights_h5"]
