"""Optional C++ step loops for the BPTT kernels on CPU (opt-in: ``RNNKIT_NATIVE=1``).

The kernels' per-step work (one GEMM and a few pointwise passes per step) costs more in
per-operation overhead than in arithmetic at the sizes RNNs run at. The C++ sources in ``csrc/``
run the same loops with one product call per step (oneDNN or BLAS, see :mod:`.gemm`) and
vectorised passes over the pointwise math, and writes the backward factors while the gates are in registers. With
``RNNKIT_NATIVE=1`` it is built with ``torch.utils.cpp_extension.load_inline`` the first time a CPU
float32/float64 kernel runs (about a minute, once per source version; cached in torch's extension
directory, ``TORCH_EXTENSIONS_DIR``). By default, where it cannot be built (no compiler, no ninja,
a BLAS without ``sgemm_``), and on GPU, the kernels run their pure-torch loops, which compute the
same thing. Both loops are checked against the NumPy reference for every variant (tests/kernels).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from types import ModuleType

import torch

from .common import Zoneout

logger = logging.getLogger(__name__)

SOURCES = Path(__file__).with_name("csrc")              # bindings.cpp includes common.h, lstm.h, gru.h, simple.h
FUNCTIONS = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_forward", "simple_backward"]
ACTIVATION_IDS = {"tanh": 0, "sigmoid": 1, "hard_sigmoid": 2, "relu": 3, "linear": 4, "softsign": 5}
ENV = "RNNKIT_NATIVE"

_lock = threading.Lock()
_loaded: dict[str, ModuleType | None] = {}


def loops_for(x: torch.Tensor) -> ModuleType | None:
    """The compiled loops for kernels on ``x``'s device and dtype, or None (use the torch loops)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or not enabled():
        return None
    return load()


def enabled() -> bool:
    """True when the environment variable ``RNNKIT_NATIVE`` is ``1`` (opt-in)."""
    return os.environ.get(ENV, "0") == "1"


def load(build: bool = True) -> ModuleType | None:
    """The compiled module, building it if needed (and ``build``); None if it cannot be had."""
    if "module" in _loaded:
        return _loaded["module"]
    if not build and not is_built():
        return None
    with _lock:
        if "module" not in _loaded:
            _loaded["module"] = _build()
    return _loaded["module"]


def is_built() -> bool:
    """Whether this source version is already compiled in torch's extension cache."""
    try:
        from torch.utils.cpp_extension import _get_build_directory
    except ImportError:                                  # a torch without the (private) helper: assume not
        return False
    name = _module_name()
    return (Path(_get_build_directory(name, verbose=False)) / f"{name}.so").exists()


def zoneout_args(d: Zoneout) -> tuple[torch.Tensor | None, float, bool]:
    """A kernel's zoneout as the C++ loops take it: ``(draws or None, constant p, on)``."""
    if isinstance(d, torch.Tensor):
        return d, 0.0, True
    return None, (d or 0.0), d is not None


def _flags() -> list[str]:
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("AVX2", "AVX512"):
        return ["-O3", "-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    return ["-O3", "-DCPU_CAPABILITY=DEFAULT"]


def _module_name() -> str:
    key = "".join(path.read_text() for path in sorted(SOURCES.iterdir())) + " ".join(_flags()) + torch.__version__
    return "rnnkit_native_" + hashlib.sha1(key.encode()).hexdigest()[:12]


def _build() -> ModuleType | None:
    from torch.utils.cpp_extension import load_inline
    try:
        logger.info("rnnkit: compiling the native BPTT loops (once per version, about a minute)")
        return load_inline(_module_name(), cpp_sources=(SOURCES / "bindings.cpp").read_text(), functions=FUNCTIONS,
                           extra_cflags=_flags(), extra_include_paths=[str(SOURCES)], verbose=False)
    except (OSError, RuntimeError, ImportError) as err:        # no compiler / ninja / BLAS symbol
        logger.warning("rnnkit: native BPTT loops unavailable, using the torch loops (%s)", err)
        return None
