"""Buffers for the kernels' own tensors on CPU, kept between calls.

The BPTT kernels make several ``(T, B, .)`` tensors per call that never leave them: the backward
factors (``P, Q, K, Fe``), ``h W_hh^T`` before its layer norm, statistics, gradients of the
pre-activations; and the gradient of the input side (``x W_ih^T + b``) an LSTM or GRU kernel hands
autograd, which autograd's product backward reads and drops. On CPU each is fresh memory from the
system (glibc maps blocks this large anew, and trims its heap), and its pages cost a fault and a
zeroing on first touch: for an LSTM with layer norm at T=100, B=32, H=128 that was 15 % of a training
step, and in a fresh process the input gradient alone another 1,500 faults a step (22.6 -> 18.4 ms).
Here a buffer is reused once nothing holds its storage any more (autograd frees the saved tensors after
the backward, or with the graph), so that a training loop of fixed shapes touches the same pages every
step, as torch's CUDA caching allocator does on GPUs. At most ``LIMIT_BYTES`` are kept; CUDA tensors
(cached by torch already) and a torch without the storage use count go to ``torch.empty`` as before.
``clear()`` gives the memory back.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict

import torch

LIMIT_BYTES = 256 << 20

_use_count = getattr(torch._C, "_storage_Use_Count", None)
_lock = threading.Lock()
_buffers: OrderedDict[tuple, list[torch.Tensor]] = OrderedDict()     # (dtype, numel) -> flat buffers, LRU
_kept = 0                                                            # bytes of every buffer in _buffers


def empty(like: torch.Tensor, *shape: int, zero: bool = False) -> torch.Tensor:
    """A tensor of ``shape`` with ``like``'s dtype and device (zeros if ``zero``) for a kernel's own use:
    saved for its backward, used inside it, or a gradient handed to autograd; never a forward's output
    (the pool takes it back once nothing holds it, but an output should be the caller's own memory)."""
    if like.device.type != "cpu" or _use_count is None:
        return like.new_zeros(shape) if zero else like.new_empty(shape)
    global _kept
    numel = math.prod(shape)
    key = (like.dtype, numel)
    with _lock:
        bases = _buffers.setdefault(key, [])
        _buffers.move_to_end(key)
        base = next((b for b in bases if _is_free(b)), None)
        if base is None:
            base = torch.empty(numel, dtype=like.dtype)
            bases.append(base)
            _kept += _nbytes(base)
        view = base.view(shape)                                          # in use from here: not evicted
        if _kept > LIMIT_BYTES:
            _evict()
    return view.zero_() if zero else view


def empty_views(like: torch.Tensor, *shapes: tuple[int, ...] | None) -> tuple[torch.Tensor | None, ...]:
    """Tensors of ``shapes`` (None for a shape: None) as consecutive views of one :func:`empty` buffer: one
    pool lookup for a kernel's several tensors, kept in use while any of them is held."""
    sizes = [0 if shape is None else math.prod(shape) for shape in shapes]
    flat = empty(like, sum(sizes)) if any(shape is not None for shape in shapes) else None
    views, start = [], 0
    for shape, size in zip(shapes, sizes):
        views.append(None if shape is None else flat[start:start + size].view(shape))
        start += size
    return tuple(views)


def clear() -> None:
    """Drops every kept buffer (those in use stay with their users)."""
    global _kept
    with _lock:
        _buffers.clear()
        _kept = 0


def kept_bytes() -> int:
    return _kept


def _nbytes(base: torch.Tensor) -> int:
    return base.numel() * base.element_size()


def _is_free(base: torch.Tensor) -> bool:
    """Whether only the pool holds ``base``'s storage: the base tensor and the storage object asked
    for here count 2; a view or a saved tensor anywhere counts more."""
    return _use_count(base.untyped_storage()._cdata) <= 2


def _evict() -> None:
    """Drops free buffers, least recently used shapes first, while more than LIMIT_BYTES are kept."""
    global _kept
    for key in list(_buffers):
        if _kept <= LIMIT_BYTES:
            break
        bases = _buffers[key]
        for base in [b for b in bases if _is_free(b)]:
            bases.remove(base)
            _kept -= _nbytes(base)
        if not bases:
            del _buffers[key]
