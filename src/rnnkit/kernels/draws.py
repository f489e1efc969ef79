r"""Zoneout's Bernoulli draws from a counter-based generator, the same numbers on every path.

A call takes one 64-bit seed from torch's generator (so ``torch.manual_seed`` fixes it) and makes
word ``i`` of its draws ``splitmix64(seed + (i + 1) golden)``; each word's four 16-bit lanes (low
first) are uniforms ``u`` in ``[-2^15, 2^15)``, and a draw is ``u < count - 2^15`` with
``count = round(p 2^16)``. The C++ loops (``kernels/csrc/draws.h``) compute the words in parallel and
vectorised; where they are not built, the same arithmetic runs here in int64 torch ops (wrapping
products, logical shifts by masking), so that a seed gives the same masks on either path. Drawing a
(T, B, H) mask with ``torch.rand`` costs about a tenth of the fused LSTM's training step on CPU
(one Mersenne-Twister draw per element, on one thread); these cost a few percent of that.
"""
from __future__ import annotations

import torch

from . import native

GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)          # the constants of splitmix64, as signed 64-bit integers
MIX_1 = 0xBF58476D1CE4E5B9 - (1 << 64)
MIX_2 = 0x94D049BB133111EB - (1 << 64)


def bernoulli(count: int, n: int, like: torch.Tensor) -> torch.Tensor:
    """``n`` draws, 1 with probability ``count / 2^16`` (0 < count < 2^16), dtype and device of ``like``."""
    seed = int(torch.randint(-(1 << 63), (1 << 63) - 1, (), dtype=torch.int64))
    loops = native.loops_for(like)
    if loops is not None:
        return loops.zoneout_draws(seed, count, n, like)
    words = splitmix64(seed, torch.arange((n + 3) // 4, dtype=torch.int64, device=like.device))
    return words.view(torch.int16)[:n].lt(count - (1 << 15)).to(like.dtype)


def splitmix64(seed: int, index: torch.Tensor) -> torch.Tensor:
    """``splitmix64(seed + (index + 1) golden)`` elementwise, modulo 2^64 in int64."""
    z = (index + 1).mul_(GOLDEN).add_(seed)
    z.bitwise_xor_(_shift_right(z, 30)).mul_(MIX_1)
    z.bitwise_xor_(_shift_right(z, 27)).mul_(MIX_2)
    return z.bitwise_xor_(_shift_right(z, 31))


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic: the sign bits are masked off)."""
    return z.bitwise_right_shift(bits).bitwise_and_((1 << (64 - bits)) - 1)
