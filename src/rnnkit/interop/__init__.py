"""Model interop: torch.nn recurrent modules, Keras 3 ``.weights.h5`` files, ONNX export."""
from .keras_h5 import read_weights_h5, write_weights_h5
from .onnx import check_onnx, export_onnx, run_onnx
from .torch_nn import from_torch, to_torch, torch_state_dict

__all__ = ["check_onnx", "export_onnx", "from_torch", "read_weights_h5", "run_onnx", "to_torch", "torch_state_dict",
           "write_weights_h5"]
