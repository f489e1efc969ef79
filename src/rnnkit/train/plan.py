"""How long a run is: batches per epoch, planned optimizer steps, the log interval, where an epoch resumes."""
from __future__ import annotations

from typing import Any, Iterator

from .config import TrainConfig

LOG_ROWS = 50           # log rows over a run when TrainConfig.log_every is None


def length(data: Any) -> int | None:
    """``len(data)``, or None for data without a length."""
    try:
        return len(data)
    except TypeError:
        return None


def planned_steps(config: TrainConfig, batches_per_epoch: int | None) -> int | None:
    """Optimizer steps the run will take if nothing stops it early (None if unknown)."""
    by_epochs = None if batches_per_epoch is None else config.epochs * -(-batches_per_epoch // config.accumulate)
    known = [steps for steps in (by_epochs, config.max_steps) if steps is not None]
    return min(known) if known else None


def log_interval(config: TrainConfig, planned: int | None) -> int:
    """``config.log_every``, or about :data:`LOG_ROWS` rows over ``planned`` steps (every 50 when unknown)."""
    if config.log_every is not None:
        return config.log_every
    return max(1, planned // LOG_ROWS) if planned is not None else LOG_ROWS


def batches_after(data: Any, position: int, epoch: int) -> Iterator[Any]:
    """An iterator over ``data`` past its first ``position`` batches (consumed before a checkpoint).

    Raises:
        ValueError: ``data`` has fewer batches than that.
    """
    batches = iter(data)
    for skipped in range(position):
        if next(batches, _END) is _END:
            raise ValueError(f"train_data: the checkpoint is at batch {position} of epoch {epoch}, "
                             f"but the data has only {skipped} batches")
    return batches


_END = object()
