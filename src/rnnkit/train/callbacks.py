"""Callbacks with Keras' hook names, and ``History``.

Order of the hooks during ``Trainer.fit``::

    on_train_begin
      on_epoch_begin                       logs: epoch
        on_train_batch_begin               logs: batch (index in the epoch), step
        on_train_batch_end                 logs: batch, step, loss, count, metrics (this replica's batch;
                                                 after the optimizer step when one ends with this batch:
                                                 then also lr, grad_norm when clipping by norm)
        ... on_test_begin / on_test_end    at each validation and each ``evaluate`` call (logs at the end:
                                           step, loss, metrics of the evaluation data)
      on_epoch_end                         logs: epoch, step, loss and metrics (epoch means over units,
                                                 pooled over replicas), lr, and the epoch's latest validation
                                                 as val_loss, val_<metric>
    on_train_end                           logs: step, epoch, stopped (why training ended)

A callback may set ``trainer.stop_training = True``; the trainer stops after the current optimizer step.
An epoch cut short (max_steps, max_time, early stopping, stop_training) still ends with its validation
(when validating at epoch ends) and ``on_epoch_end``.
"""
from __future__ import annotations

from typing import Any

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end")


class Callback:
    """Base class: override any hook; each is called as ``hook(trainer, logs)``."""

    def on_train_begin(self, trainer: Any, logs: dict) -> None: ...

    def on_train_end(self, trainer: Any, logs: dict) -> None: ...

    def on_epoch_begin(self, trainer: Any, logs: dict) -> None: ...

    def on_epoch_end(self, trainer: Any, logs: dict) -> None: ...

    def on_train_batch_begin(self, trainer: Any, logs: dict) -> None: ...

    def on_train_batch_end(self, trainer: Any, logs: dict) -> None: ...

    def on_test_begin(self, trainer: Any, logs: dict) -> None: ...

    def on_test_end(self, trainer: Any, logs: dict) -> None: ...


class CallbackList:
    """Calls a hook on every callback in order; hooks no callback overrides cost nothing."""

    def __init__(self, callbacks: list[Callback]):
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks: expected rnnkit.train.Callback instances, got {type(callback).__name__}")
        self.callbacks = list(callbacks)
        self._overriding = {hook: [getattr(c, hook) for c in self.callbacks
                                   if getattr(type(c), hook) is not getattr(Callback, hook)] for hook in HOOKS}

    def wants(self, hook: str) -> bool:
        """Whether any callback overrides ``hook`` (so the trainer may skip building its logs)."""
        return bool(self._overriding[hook])

    def call(self, hook: str, trainer: Any, logs: dict) -> None:
        for method in self._overriding[hook]:
            method(trainer, logs)


class History(Callback):
    """Per-epoch logs as Keras keeps them: ``history[name]`` is a list with one entry per epoch.

    Names: ``epoch``, ``step``, ``loss`` (mean training loss over the epoch's units), ``lr``, training
    metrics, and ``val_loss`` / ``val_<metric>`` when a validation ran. The trainer owns one
    (``trainer.history``), restores it on resume and returns it from ``fit``.
    """

    def __init__(self):
        self.history: dict[str, list] = {}

    def on_epoch_end(self, trainer: Any, logs: dict) -> None:
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)
