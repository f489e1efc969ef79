"""What ``fit`` / ``evaluate`` / ``predict`` accept, turned into re-iterable batches for the trainer.

Arrays (numpy or torch; one array, or a list / dict of them for several inputs or outputs) are cut
into ``(x, y, sample_weight)`` batches, reshuffled each epoch from torch's generator (which the
trainer reseeds per epoch). An iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches, such as
a ``torch.utils.data.DataLoader``, is used as it is.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch

from .layers.base import to_tensor
from .layers.symbolic import flatten, map_structure


def _tensors(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: to_tensor(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (np.ndarray, torch.Tensor)):
        return [to_tensor(value) for value in data]
    return to_tensor(data)


def _is_arrays(data: Any) -> bool:
    return all(isinstance(leaf, (np.ndarray, torch.Tensor)) for leaf in flatten(data)) and bool(flatten(data))


def _length(name: str, *structures: Any) -> int:
    lengths = {len(leaf) for s in structures if s is not None for leaf in flatten(s)}
    if len(lengths) != 1:
        raise ValueError(f"{name}: expected arrays with the same number of samples, got lengths {sorted(lengths)}")
    return lengths.pop()


def _take(data: Any, index: Any) -> Any:
    return None if data is None else map_structure(lambda t: t[index], data)


class ArrayBatches:
    """Batches ``(x, y, sample_weight)`` of aligned arrays; ``len()`` is the number of batches."""

    def __init__(self, x: Any, y: Any, sample_weight: Any, batch_size: int, shuffle: bool):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        self.samples = _length("x / y / sample_weight", x, y, sample_weight)

    def __len__(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple]:
        order = torch.randperm(self.samples) if self.shuffle else torch.arange(self.samples)
        for start in range(0, self.samples, self.batch_size):
            index = order[start:start + self.batch_size]
            yield _take(self.x, index), _take(self.y, index), _take(self.sample_weight, index)


class IterableBatches:
    """Batches from a user iterable (e.g. a DataLoader) normalised to ``(x, y, sample_weight)``."""

    def __init__(self, iterable: Any):
        self.iterable = iterable

    def __len__(self) -> int:
        return len(self.iterable)

    def __iter__(self) -> Iterator[tuple]:
        for batch in self.iterable:
            if isinstance(batch, (list, tuple)) and len(batch) in (2, 3):
                yield tuple(_tensors(part) for part in batch) + ((None,) if len(batch) == 2 else ())
            else:
                yield _tensors(batch), None, None


def length_or_none(data: Any) -> int | None:
    """``len(data)``, or None for data without a length."""
    try:
        return len(data)
    except TypeError:
        return None


def _batch_size(batch_size: Any, name: str = "batch_size") -> int:
    batch_size = 32 if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{name}: expected a positive integer, got {batch_size!r}")
    return batch_size


def class_weights(y: torch.Tensor, class_weight: dict) -> torch.Tensor:
    """Per-sample weights ``class_weight[label]``; labels are integers or one-hot rows."""
    labels = y.argmax(dim=-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].round().long()
    table = torch.ones(int(max(max(class_weight), int(labels.max()))) + 1)
    for label, weight in class_weight.items():
        table[int(label)] = float(weight)
    return table[labels]


def training_data(x: Any, y: Any, batch_size: Any, shuffle: bool, sample_weight: Any, class_weight: dict | None,
                  validation_split: float, validation_data: Any) -> tuple[Any, Any]:
    """``(train_batches, val_batches or None)`` for ``fit``.

    ``validation_split`` holds out the last fraction of the samples (before shuffling), as Keras.

    Raises:
        ValueError: mismatched lengths, a bad split, or validation_data that is not (x, y[, w]).
    """
    if not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
    if not _is_arrays(x):
        if y is not None or validation_split:
            raise ValueError("x: with a dataset of batches, pass y inside it and no validation_split")
        train = IterableBatches(x)
        return train, _validation(validation_data, batch_size)
    batch_size = _batch_size(batch_size)
    x, y, sample_weight = _tensors(x), _tensors(y), _tensors(sample_weight)
    if class_weight is not None:
        if y is None or not isinstance(y, torch.Tensor):
            raise ValueError("class_weight: needs a single target array y")
        weights = class_weights(y, class_weight)
        sample_weight = weights if sample_weight is None else sample_weight * weights
    samples = _length("x / y / sample_weight", x, y, sample_weight)
    val = _validation(validation_data, batch_size)
    if validation_split:
        split = int(math.floor(samples * (1.0 - validation_split)))
        if split < 1 or split == samples:
            raise ValueError(f"validation_split: {validation_split} of {samples} samples leaves an empty split")
        head, tail = slice(0, split), slice(split, samples)
        val = ArrayBatches(_take(x, tail), _take(y, tail), _take(sample_weight, tail), batch_size, False)
        x, y, sample_weight = _take(x, head), _take(y, head), _take(sample_weight, head)
    return ArrayBatches(x, y, sample_weight, batch_size, bool(shuffle)), val


def _validation(validation_data: Any, batch_size: Any) -> Any:
    if validation_data is None:
        return None
    if isinstance(validation_data, (list, tuple)) and len(validation_data) in (2, 3) and _is_arrays(
            validation_data[0]):
        x, y, *weight = validation_data
        return ArrayBatches(_tensors(x), _tensors(y), _tensors(weight[0]) if weight else None,
                            _batch_size(batch_size), False)
    if isinstance(validation_data, (list, tuple)):
        raise ValueError("validation_data: expected (x_val, y_val) or (x_val, y_val, sample_weight_val) arrays "
                         "or an iterable of batches")
    return IterableBatches(validation_data)


def evaluation_data(x: Any, y: Any, batch_size: Any, sample_weight: Any) -> Any:
    """Batches for ``evaluate``: arrays in order, or an iterable of batches."""
    if not _is_arrays(x):
        return IterableBatches(x)
    return ArrayBatches(_tensors(x), _tensors(y), _tensors(sample_weight), _batch_size(batch_size), False)


def prediction_batches(x: Any, batch_size: Any) -> Iterator[Any]:
    """The inputs of ``predict`` batch by batch (an iterable of batches: their x parts)."""
    if not _is_arrays(x):
        for batch in IterableBatches(x):
            yield batch[0]
        return
    x = _tensors(x)
    size, samples = _batch_size(batch_size), _length("x", x)
    for start in range(0, samples, size):
        yield _take(x, slice(start, start + size))
