"""Input validation shared by every cell and layer: clear ``ValueError`` messages, never a deep traceback.

Each message starts with the argument's name and says what was received and what was expected.
Two kinds of checks:

* metadata, always on: type, rank, shape, dtype, device, integer sizes, bool flags, lengths.
  They read no tensor values (lengths excepted, see :func:`check_lengths`), so they cost no device sync.
* values, opt-in: the NaN / Inf scan of the inputs and states, one device sync per call. Turn it on
  with ``rnnkit.set_checks(True)`` (or ``with rnnkit.set_checks(True): ...``, or the environment
  variable ``RNNKIT_CHECKS=1``); it never runs under ``torch.compile`` / ``torch.export`` or tracing.

This module imports nothing of rnnkit, so every package may use it.
"""
from __future__ import annotations

import numbers
import os
from typing import Sequence

import torch

_values_checked = os.environ.get("RNNKIT_CHECKS", "0") == "1"
_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu")


class set_checks:
    """Turns the value checks (NaN / Inf in inputs and states) on or off; off by default.

    Arguments:
        enabled: True to scan every input and state of every cell and layer call (a device sync
            per call: a debugging aid), False for none.

    A call sets it from now on (``rnnkit.set_checks(True)``); as a context manager it holds for the
    block and the previous setting comes back after it (``with rnnkit.set_checks(True): ...``).
    """

    def __init__(self, enabled: bool):
        global _values_checked
        self.previous = _values_checked
        _values_checked = check_flag(enabled, "enabled")

    def __enter__(self) -> "set_checks":
        return self

    def __exit__(self, *exc_info) -> None:
        global _values_checked
        _values_checked = self.previous


def values_checked() -> bool:
    """Whether the value checks run now: switched on, and not under compile, export or tracing."""
    return _values_checked and not (torch.compiler.is_compiling() or torch.jit.is_tracing())


def symbolic(x: torch.Tensor) -> bool:
    """Whether ``x``'s values cannot be read: under ``torch.compile`` / ``torch.export``, or on the meta
    device. Code then takes paths without data-dependent Python control flow."""
    return torch.compiler.is_compiling() or x.is_meta


def check_size(value, name: str, minimum: int = 1) -> int:
    """Checks an integer size ``>= minimum`` (bools are not sizes) and returns it as an ``int``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: expected {kind}, got {value!r}")
    return int(value)


def check_flag(value, name: str) -> bool:
    """Checks a switch: True or False (0 and 1 pass too); strings and other values are refused."""
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name}: expected True or False, got {value!r}")


def check_real(value, name: str) -> float:
    """Checks a finite real number and returns it as a ``float``."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not abs(float(value)) < float("inf"):
        raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    return float(value)


def check_factory(device, dtype) -> dict:
    """Checks ``torch.nn``'s factory arguments and returns them as keywords for ``torch.empty``.

    Arguments:
        device: None, a ``torch.device`` or its name (``"cpu"``, ``"cuda:1"``, ``"meta"``).
        dtype: None or a floating-point ``torch.dtype``.
    """
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype: expected None or a floating-point torch.dtype, got {dtype!r}")
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device: expected None, a torch.device or its name, got {device!r}") from err
    return {"device": device, "dtype": dtype}


def check_sequence(x: torch.Tensor, feature_size: int, batch_first: bool, like: torch.Tensor | None = None,
                   name: str = "x") -> tuple[int, int]:
    """Checks a sequence batch and returns ``(batch, time)``.

    Arguments:
        x: ``(B, T, F)`` if ``batch_first`` else ``(T, B, F)``.
        feature_size: the expected F.
        like: a parameter whose dtype and device ``x`` must have (see :func:`check_dtype_device`), or None.
    Raises:
        ValueError: not a tensor, wrong rank, wrong F, an empty batch or time axis, another dtype or
            device, or (value checks on) NaN / Inf inside.
    """
    layout = "(B, T, F)" if batch_first else "(T, B, F)"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"{name}: expected a 3-d tensor of shape {layout} with F={feature_size}, "
            f"got shape {tuple(x.shape)}")
    if x.shape[-1] != feature_size:
        raise ValueError(
            f"{name}: expected feature size F={feature_size} in shape {layout}, got shape {tuple(x.shape)}")
    batch, time = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    if time == 0 or batch == 0:
        raise ValueError(f"{name}: expected a non-empty batch and time axis {layout}, got shape {tuple(x.shape)}")
    check_dtype_device(x, name, like)
    check_finite(x, name)
    return batch, time


def check_step_input(x_t: torch.Tensor, feature_size: int, like: torch.Tensor | None = None,
                     name: str = "x_t") -> int:
    """Checks one time step ``x_t (B, F)`` as :func:`check_sequence` checks a sequence; returns B."""
    if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2 or x_t.shape[-1] != feature_size:
        got = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
        raise ValueError(f"{name}: expected shape (B, {feature_size}), got {got}")
    if x_t.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch (B, {feature_size}), got shape {tuple(x_t.shape)}")
    check_dtype_device(x_t, name, like)
    check_finite(x_t, name)
    return x_t.shape[0]


def check_dtype_device(t: torch.Tensor, name: str, like: torch.Tensor | None) -> None:
    """Checks that ``t`` is on ``like``'s device with ``like``'s dtype (nothing if ``like`` is None).

    Under autocast on ``t``'s device the autocast dtype (e.g. bfloat16) is accepted too.
    """
    if like is None:
        return
    if t.device != like.device:
        raise ValueError(f"{name}: expected a tensor on {like.device} (the parameters' device), got {t.device}")
    if t.dtype == like.dtype:
        return
    lower = autocast_dtype(t.device)
    if t.dtype != lower:
        also = "" if lower is None else f" or {lower} (autocast's)"
        raise ValueError(f"{name}: expected dtype {like.dtype} (the parameters'){also}, got {t.dtype}")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The lower-precision dtype of the autocast enabled on ``device``'s type now, or None."""
    if device.type not in _AUTOCAST_DEVICES or not torch.is_autocast_enabled(device.type):
        return None
    return torch.get_autocast_dtype(device.type)


def check_finite(x: torch.Tensor, name: str) -> None:
    """With the value checks on (:func:`values_checked`), raises ValueError if ``x`` holds NaN or Inf."""
    if values_checked() and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        what = "NaN" if bool(torch.isnan(x).any()) else "Inf"
        raise ValueError(f"{name}: contains {what} (shape {tuple(x.shape)})")


def check_lengths(lengths, batch: int, time: int, device: torch.device) -> torch.Tensor | None:
    """Validates ``lengths (B,)`` with ``1 <= lengths[b] <= T``; returns a LongTensor on ``device``.

    Returns None when every row is full (``lengths`` all equal T), so callers skip masking. Reading
    the values is one device sync; where they cannot be read (:func:`symbolic`: compile, export, the
    meta device) the tensor is returned even when every row is full, and the range is checked by an
    assertion inside the traced graph (compile, export: a RuntimeError when the graph runs).
    """
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"lengths: expected a sequence of B={batch} integers, got {lengths!r}") from err
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per row), got shape {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.device != torch.device(device) and lengths.device.type != "cpu":
        raise ValueError(f"lengths: expected a tensor on cpu or {device} (the input's device), got {lengths.device}")
    if torch.compiler.is_compiling():                 # checked inside the graph: a RuntimeError when it runs
        torch._assert_async(((lengths >= 1) & (lengths <= time)).all(),
                            f"lengths: expected every length in [1, T={time}]")
    if symbolic(lengths):
        return lengths.to(device=device, dtype=torch.long)
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > time:
        raise ValueError(f"lengths: expected every length in [1, T={time}], got min {lo} and max {hi}")
    if lo == time:
        return None
    return lengths.to(device=device, dtype=torch.long)


def check_state_tensor(h: torch.Tensor, expected: Sequence[int], name: str, like: torch.Tensor | None = None) -> None:
    """Checks one state tensor: its shape, dtype and device (``like``, as for ``x``), and its values
    when the value checks are on."""
    if not isinstance(h, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {tuple(expected)}, got {type(h).__name__}")
    if tuple(h.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got shape {tuple(h.shape)}")
    check_dtype_device(h, name, like)
    check_finite(h, name)


def check_probability(p: float, name: str) -> float:
    """Checks a dropout / zoneout rate in [0, 1)."""
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name}: expected a rate in [0, 1), got {p!r}")
    return float(p)
