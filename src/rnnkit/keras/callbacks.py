"""Keras callbacks (``on_epoch_end(epoch, logs)``, ``self.model``), run inside rnnkit's Trainer.

:class:`TrainerBridge` is one :class:`rnnkit.train.Callback` that forwards the trainer's hooks to a
list of Keras-style callbacks, passing Keras' logs (``loss``, metrics, ``val_*``), and turns
``model.stop_training = True`` into the trainer's stop. It also applies the weight constraints
after every optimizer step, and makes the trainer follow ``model.optimizer.learning_rate`` when a
callback changes it during ``fit`` (as ReduceLROnPlateau does), through :class:`FollowLearningRate`.

Difference from Keras: a callback that monitors a value absent from the logs (say ``val_loss``
without validation data) raises ``ValueError`` instead of warning and doing nothing.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ..train import Callback as TrainerCallback

_TRAINER_KEYS = ("epoch", "step", "batch", "count", "lr", "grad_norm")


class Callback:
    """Base of Keras-style callbacks; override any hook. ``self.model`` is the model being fit."""

    def __init__(self):
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_test_begin(self, logs: dict | None = None) -> None: ...

    def on_test_end(self, logs: dict | None = None) -> None: ...


class History(Callback):
    """``history.history[name]``: one value per epoch (``loss``, metrics, ``val_*``); ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        self.model.history = self


class _Monitor(Callback):
    """A monitored log value with Keras' mode ("auto": max for accuracy-like names, else min) and min_delta."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))

    @property
    def maximize(self) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.removeprefix("val_")
        return "acc" in name or "auc" in name

    def improved(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return value - self.min_delta > reference if self.maximize else value + self.min_delta < reference

    def current(self, logs: dict | None) -> float:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"monitor: {type(self).__name__} watches {self.monitor!r}, which is not in the logs "
                             f"({', '.join(logs) or 'none'}); pass validation data or monitor one of those")
        return float(logs[self.monitor])


class EarlyStopping(_Monitor):
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (Keras 3's rule).

    ``restore_best_weights`` puts back the weights of the best epoch at the end of training;
    ``baseline``: training also stops unless the value beats it; ``start_from_epoch``: epochs to skip.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = int(patience), verbose, baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), int(start_from_epoch)
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best: float | None = None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        current = self.current(logs)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement
    (at least ``min_delta``), then waits ``cooldown`` epochs; never below ``min_lr``. Keras 3's rule;
    the new rate takes effect at the next optimizer step and stays for later ``fit`` calls."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0, **unused):
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor: expected a number in (0, 1), got {factor!r}")
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        current = self.current(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                if old > self.min_lr:
                    self.model.optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{self.model.optimizer.learning_rate}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class ModelCheckpoint(_Monitor):
    """Saves the model (``model.save``) or its weights (``save_weights``) at each epoch end, or every
    ``save_freq`` batches. ``filepath`` may hold ``{epoch:02d}`` and log names (``{val_loss:.2f}``);
    ``save_best_only`` saves only when ``monitor`` improves."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq: Any = "epoch",
                 initial_value_threshold: float | None = None):
        super().__init__(monitor, mode, 0.0)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq: expected 'epoch' or a positive number of batches, got {save_freq!r}")
        self.filepath, self.verbose = str(filepath), verbose
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        self.best = initial_value_threshold
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            current = self.current(logs)
            if not self.improved(current, self.best):
                return
            self.best = current
        path = Path(self.filepath.format(epoch=epoch + 1, **logs))
        path.parent.mkdir(parents=True, exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


class CSVLogger(Callback):
    """Writes one row per epoch: ``epoch`` then the logs' names in sorted order."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = Path(filename), separator, append
        self._file = self._writer = None
        self._keys: list[str] | None = None
        self._header_written = False

    def on_train_begin(self, logs=None):
        exists = self.append and self.filename.exists() and self.filename.stat().st_size > 0
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer, self._keys = csv.writer(self._file, delimiter=self.separator), None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            if not self._header_written:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(logs.get(key, "NA") for key in self._keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoard(Callback):
    """Per-epoch scalars ``epoch_<name>`` under ``log_dir/train`` and ``log_dir/validation`` (Keras' layout)."""

    def __init__(self, log_dir: str = "logs", **unused: Any):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict = {}

    def on_train_begin(self, logs=None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ValueError("TensorBoard: needs the tensorboard package (pip install rnnkit[tensorboard])") from err
        self._writers = {split: SummaryWriter(str(self.log_dir / split)) for split in ("train", "validation")}

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            split = "validation" if name.startswith("val_") else "train"
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writers[split].add_scalar(f"epoch_{name.removeprefix('val_')}", value, epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class TrainerBridge(TrainerCallback):
    """Runs Keras-style callbacks from :class:`rnnkit.train.Trainer`'s hooks (see the module docstring)."""

    def __init__(self, model: Any, callbacks: list[Callback], params: dict, initial_epoch: int = 0):
        self.model, self.callbacks, self.initial_epoch = model, list(callbacks), initial_epoch
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks: expected rnnkit.keras.callbacks.Callback objects, "
                                 f"got {type(callback).__name__}")
            callback.set_model(model)
            callback.set_params(params)

    def _each(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _sync_stop(self, trainer: Any) -> None:
        if self.model.stop_training:
            trainer.stop_training = True

    def on_train_begin(self, trainer, logs):
        self.model.stop_training = False
        trainer.schedule = FollowLearningRate(trainer.schedule, self.model.optimizer, trainer.config.lr)
        self._each("on_train_begin", {})

    def on_epoch_begin(self, trainer, logs):
        self._each("on_epoch_begin", logs["epoch"] + self.initial_epoch, {})

    def on_train_batch_begin(self, trainer, logs):
        self._each("on_train_batch_begin", logs["batch"], {})

    def on_train_batch_end(self, trainer, logs):
        self.model.apply_constraints()
        self._each("on_train_batch_end", logs["batch"], keras_logs(logs))
        self._sync_stop(trainer)

    def on_test_begin(self, trainer, logs):
        self._each("on_test_begin", {})

    def on_test_end(self, trainer, logs):
        self._each("on_test_end", keras_logs(logs))

    def on_epoch_end(self, trainer, logs):
        self._each("on_epoch_end", logs["epoch"] + self.initial_epoch, keras_logs(logs))
        self._sync_stop(trainer)

    def on_train_end(self, trainer, logs):
        self._each("on_train_end", {})


class FollowLearningRate:
    """The trainer's schedule scaled by ``optimizer.learning_rate / base_lr`` (Keras' current rate).

    Only ``lr`` and ``apply`` change; everything else (state, plateau bookkeeping) is the wrapped schedule's.
    """

    def __init__(self, schedule: Any, optimizer: Any, base_lr: float):
        self.schedule, self.optimizer, self.base_lr = schedule, optimizer, base_lr

    def lr(self, step: int) -> float:
        return self.schedule.lr(step) * self.optimizer.learning_rate / self.base_lr

    def apply(self, optimizer: Any, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def __getattr__(self, name: str) -> Any:
        return getattr(self.schedule, name)


def keras_logs(logs: dict) -> dict:
    """The trainer's logs without its bookkeeping (epoch, step, batch, count, lr, grad_norm)."""
    return {name: value for name, value in logs.items() if name not in _TRAINER_KEYS}
