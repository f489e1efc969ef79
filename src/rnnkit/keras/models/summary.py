"""The text of ``model.summary()``: one row per layer (name, type, output shape, parameters) and totals.

Parameter counts are those of the Keras weights (``layer.count_params()``), equal to Keras' for the
same model; a layer not built yet shows ``?`` and 0.
"""
from __future__ import annotations

from typing import Any

from ..layers.input import InputLayer


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list))):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _size_text(count: int) -> str:
    size = count * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return ""


def summary_lines(model: Any, line_length: int = 80) -> list[str]:
    """The lines of the summary table."""
    widths = (int(line_length * 0.45), int(line_length * 0.33))
    rows = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            shape = layer.batch_shape
        else:
            shape = layer.output_shape_record
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{layer.count_params():,}"))
    trainable = sum(int(v.value().numel()) for v in model.trainable_weights)
    total = model.count_params()
    rule, heavy = "_" * line_length, "=" * line_length
    lines = [f'Model: "{model.name}"', rule,
             f"{'Layer (type)':<{widths[0]}}{'Output Shape':<{widths[1]}}{'Param #':>{line_length - sum(widths)}}",
             heavy]
    for name, shape, params in rows:
        lines.append(f"{name:<{widths[0]}}{shape:<{widths[1]}}{params:>{line_length - sum(widths)}}")
    lines += [heavy, f"Total params: {total:,} ({_size_text(total)})",
              f"Trainable params: {trainable:,} ({_size_text(trainable)})",
              f"Non-trainable params: {total - trainable:,} ({_size_text(total - trainable)})", rule]
    return lines
