"""Peak tensor memory of a function: on CPU every op output's storage followed until freed, on CUDA
``max_memory_allocated`` (used by benchmarks/speed.py)."""
from __future__ import annotations

import weakref
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class PeakTracker(TorchDispatchMode):
    """Follows every tensor storage that an op returns until it is freed; ``peak`` is the most bytes
    alive at once. (Temporaries inside a single kernel are not seen: op outputs, activations saved
    for backward and gradients are.) Unlike the profiler it keeps no per-op records."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, int] = {}
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor) and tensor.layout == torch.strided and tensor.device.type != "meta":
                storage = tensor.untyped_storage()
                key = id(storage)
                if key not in self.live and storage.nbytes():
                    self.live[key] = storage.nbytes()
                    self.now += storage.nbytes()
                    self.peak = max(self.peak, self.now)
                    weakref.finalize(storage, self._free, key)
        return out

    def _free(self, key: int) -> None:
        self.now -= self.live.pop(key)


def peak_megabytes(fn: Callable[[], None], device) -> float:
    """The most tensor memory newly held at once while ``fn`` runs (MiB)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    with PeakTracker() as tracker:
        fn()
    return tracker.peak / 2 ** 20
