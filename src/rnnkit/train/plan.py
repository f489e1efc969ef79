"""How long a run is: batches per epoch, planned optimizer steps, the log interval, where an epoch resumes,
the measured time of a training step (to plan the steps a time budget holds)."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

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


def step_seconds(model: Any, batches: Iterable, steps: int, warmup: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """The time of a training step's forward and backward pass, ``model.loss(batch).loss.backward()``, on
    each of the ``steps`` batches after the first ``warmup`` (fewer when ``batches`` runs out), in seconds
    of ``clock`` (``time.process_time`` for a CPU-time budget).

    The model is put in training mode and its gradients are cleared afterwards; no optimizer step is
    taken, so its parameters do not change (random draws such as dropout's do advance the RNG). The steps
    a budget of B seconds holds are about B / t for a t from these times (the optimizer update and the
    validations cost the rest).
    """
    model.train()
    timings = []
    for index, batch in zip(range(warmup + steps), batches):
        begin = clock()
        model.loss(batch).loss.backward()
        if index >= warmup:
            timings.append(clock() - begin)
    model.zero_grad(set_to_none=True)
    return timings


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
