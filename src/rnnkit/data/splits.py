"""Fixed, seeded train / dev / test splits of a list of examples (sentences, reviews).

The split is a permutation of the example indices by ``random.Random(seed).shuffle``: the first
``1 - dev - test`` share of that order trains, the next ``dev`` share is the development set and
the last ``test`` share is the test set. The same ``(n, seed, dev, test)`` always gives the same
split, on every machine and Python version (``random.Random`` with an integer seed is stable).
"""
from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")

DEV_FRACTION = 0.1
TEST_FRACTION = 0.1


def split_indices(n: int, seed: int = 0, dev: float = DEV_FRACTION,
                  test: float = TEST_FRACTION) -> tuple[list[int], list[int], list[int]]:
    """Train, dev and test indices of ``n`` examples (see the module docstring).

    Arguments:
        n: how many examples (at least 3).
        seed: the permutation.
        dev, test: shares in (0, 1) with ``dev + test < 1``; each part gets at least one example.
    Returns:
        ``(train, dev, test)``: disjoint index lists covering ``range(n)``, each in permuted order.
    """
    if not isinstance(n, int) or n < 3:
        raise ValueError(f"n: expected at least 3 examples to split into train/dev/test, got {n!r}")
    if not (0.0 < dev < 1.0 and 0.0 < test < 1.0 and dev + test < 1.0):
        raise ValueError(f"dev, test: expected shares in (0, 1) summing to less than 1, got dev={dev!r}, test={test!r}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test * n))
    n_dev = max(1, round(dev * n))
    n_train = n - n_dev - n_test
    if n_train < 1:
        raise ValueError(f"n: {n} examples leave none for training with dev={dev}, test={test}")
    return order[:n_train], order[n_train:n_train + n_dev], order[n_train + n_dev:]


def split_items(items: Sequence[T], seed: int = 0, dev: float = DEV_FRACTION,
                test: float = TEST_FRACTION) -> tuple[list[T], list[T], list[T]]:
    """``items`` divided as :func:`split_indices` divides their indices."""
    parts = split_indices(len(items), seed, dev, test)
    return tuple([items[i] for i in part] for part in parts)  # type: ignore[return-value]
