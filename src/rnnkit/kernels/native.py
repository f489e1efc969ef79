"""C++ step loops for the BPTT kernels on CPU, on by default once built; built in the background.

The kernels' per-step work (one GEMM and a few pointwise passes per step) costs more in
per-operation overhead than in arithmetic at the sizes RNNs run at. The C++ sources in ``csrc/``
run the same loops with one product call per step (oneDNN or BLAS, see :mod:`.gemm`) and
vectorised passes over the pointwise math, and write the backward factors while the gates are in
registers. They are compiled with ``torch.utils.cpp_extension.load_inline`` against the installed
torch (about a minute, once per source version and torch; cached in torch's extension directory,
``TORCH_EXTENSIONS_DIR``), so no binary can mismatch the torch it runs with.

``RNNKIT_NATIVE`` chooses:

    auto (unset)  a process runs the C++ loops if they are built when its first CPU kernel runs.
                  If they are not, that first call starts the build in a detached, low-priority
                  process and returns at once: this process keeps the torch loops to its end (its
                  results never change path mid-run), and the processes started after the build
                  finishes run the C++ loops. Nobody waits for a compiler.
    1             build on first use if needed, wait for it, then run the C++ loops.
    0             always the torch loops.

Both loops compute the same equations and are checked against the NumPy reference for every
variant (tests/kernels); their results differ by float rounding only. Where the loops cannot be
built (no compiler, no ninja, a BLAS without ``sgemm_``), on GPU and in half precision, the torch
loops run. ``python -m rnnkit.kernels.build`` builds them ahead of time.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import torch

from . import gemm
from .common import Zoneout

logger = logging.getLogger(__name__)

SOURCES = Path(__file__).with_name("csrc")              # bindings.cpp and the headers it includes
FUNCTIONS = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_forward", "simple_backward",
             "panel_products", "step_threads", "zoneout_draws"]
ACTIVATION_IDS = {"tanh": 0, "sigmoid": 1, "hard_sigmoid": 2, "relu": 3, "linear": 4, "softsign": 5}
ENV = "RNNKIT_NATIVE"
SETTINGS = ("auto", "0", "1")
STALE_SECONDS = 15 * 60                                 # a build marker older than this belongs to a dead build
MARKER, FAILED, LOG = "rnnkit-building", "rnnkit-build-failed", "rnnkit-build.log"

_lock = threading.RLock()
_loaded: dict[str, ModuleType | None] = {}


def loops_for(x: torch.Tensor) -> ModuleType | None:
    """The compiled loops for kernels on ``x``'s device and dtype, or None (use the torch loops)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    chosen = setting()
    if chosen == "0":
        return None
    if chosen == "1":
        return load()
    return _process_choice()


def setting() -> str:
    """``RNNKIT_NATIVE``'s value: ``auto`` (unset), ``0`` or ``1``."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in SETTINGS:
        raise ValueError(f"{ENV}={value!r}: expected auto (or unset), 0 (torch loops) or 1 (build and wait)")
    return value


def _process_choice() -> ModuleType | None:
    """``auto``: the loops this process runs, decided at its first kernel call and kept to its end."""
    if "auto" not in _loaded:
        with _lock:
            if "auto" not in _loaded:
                module = load(build=False)
                if module is None:
                    build_in_background()
                _loaded["auto"] = module
    return _loaded["auto"]


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
    directory = build_directory()
    return directory is not None and (directory / f"{_module_name()}.so").exists()


def is_building() -> bool:
    """Whether a background build of this source version is running (its marker is fresh)."""
    directory = build_directory()
    try:
        return directory is not None and time.time() - (directory / MARKER).stat().st_mtime < STALE_SECONDS
    except FileNotFoundError:
        return False


def build_in_background() -> subprocess.Popen | None:
    """Starts ``python -m rnnkit.kernels.build`` detached (nice 10, one compile job) unless the loops
    are built, being built, or failed to build here before (``rnnkit-build-failed``; running the module
    by hand retries); its output goes to ``rnnkit-build.log`` in the build directory."""
    directory = build_directory()
    if directory is None or is_built() or is_building() or (directory / FAILED).exists():
        return None
    (directory / MARKER).write_text(str(os.getpid()))
    logger.info("rnnkit: building the C++ step loops in the background (about a minute); this process keeps "
                "the torch loops, processes started after it use the C++ loops")
    with open(directory / LOG, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "rnnkit.kernels.build"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "MAX_JOBS": "1", ENV: "1"})


def wait_for_build(timeout: float) -> ModuleType | None:
    """Waits up to ``timeout`` seconds for a background build, then loads the loops (None: not built)."""
    deadline = time.monotonic() + timeout
    while not is_built() and is_building() and time.monotonic() < deadline:
        time.sleep(0.5)
    return load(build=False)


def build_directory() -> Path | None:
    """torch's extension directory for this source version (created), or None without the helper."""
    try:
        from torch.utils.cpp_extension import _get_build_directory
    except ImportError:                                  # a torch without the (private) helper
        return None
    return Path(_get_build_directory(_module_name(), verbose=False))


def packed(loops: ModuleType, weight: torch.Tensor, rows: int) -> torch.Tensor | None:
    """``weight`` packed for oneDNN products in the C++ loops (:func:`.gemm.pack`), or None where they
    pack it themselves for their AVX-512 panel kernel (csrc/panels.h) or use BLAS."""
    return None if loops.panel_products() else gemm.pack(weight, rows)


def zoneout_args(d: Zoneout) -> tuple[torch.Tensor | None, float, bool]:
    """A kernel's zoneout as the C++ loops take it: ``(draws or None, constant p, on)``."""
    if isinstance(d, torch.Tensor):
        return d, 0.0, True
    return None, (d or 0.0), d is not None


def _flags() -> list[str]:
    """Compiler flags for the CPU torch dispatches to: its vector width for the pointwise passes, and
    OpenMP where torch's intra-op threads are OpenMP's (``at::parallel_for`` is a header template there,
    which runs on one thread in code compiled without OpenMP; the extension then shares torch's runtime)."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX512":
        flags = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-DCPU_CAPABILITY=AVX512",
                 "-DCPU_CAPABILITY_AVX512"]
    elif capability == "AVX2":
        flags = ["-O3", "-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    else:
        flags = ["-O3", "-DCPU_CAPABILITY=DEFAULT"]
    return flags + _openmp_flags()


def _openmp_flags() -> list[str]:
    """``-fopenmp`` where torch runs its intra-op threads on OpenMP (Linux builds), else nothing."""
    return ["-fopenmp"] if torch._C.has_openmp and sys.platform.startswith("linux") else []


@functools.cache
def _module_name() -> str:
    """The module's name: a hash of the sources, the flags and torch's version (read once per process;
    every check of the build reads it, and a background build's wait checks every half second)."""
    key = "".join(path.read_text() for path in sorted(SOURCES.iterdir())) + " ".join(_flags()) + torch.__version__
    return "rnnkit_native_" + hashlib.sha1(key.encode()).hexdigest()[:12]


def _build() -> ModuleType | None:
    from torch.utils.cpp_extension import load_inline
    _clear_dead_lock()
    try:
        logger.info("rnnkit: compiling the native BPTT loops (once per version, about a minute)")
        return load_inline(_module_name(), cpp_sources=(SOURCES / "bindings.cpp").read_text(), functions=FUNCTIONS,
                           extra_cflags=_flags(), extra_ldflags=_openmp_flags(),
                           extra_include_paths=[str(SOURCES)], verbose=False)
    except (OSError, RuntimeError, ImportError) as err:        # no compiler / ninja / BLAS symbol
        logger.warning("rnnkit: native BPTT loops unavailable, using the torch loops (%s)", err)
        return None


def _clear_dead_lock() -> None:
    """Removes torch's build lock left by a build that was killed (torch would wait for it forever)."""
    directory = build_directory()
    lock = directory / "lock" if directory is not None else None
    try:
        if lock is not None and not is_building() and time.time() - lock.stat().st_mtime > STALE_SECONDS:
            lock.unlink()
    except FileNotFoundError:
        pass

