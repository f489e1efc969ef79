"""``Trainer``: fits any task model that exposes ``loss(batch, state=None) -> LossOutput``.

One optimizer step = ``accumulate`` batches: each batch's loss (a mean over ``count`` units) is
divided by ``accumulate`` and backpropagated, then the summed gradients are unscaled (fp16),
value-clipped, norm-clipped, and the optimizer steps with the scheduled learning rate.

Truncated BPTT: when the training data has ``carry_state = True`` (e.g. ``StreamBatches``), the
state the model returns in ``LossOutput.state`` is detached and passed as ``state=`` with the next
batch; it restarts from None at each epoch and each evaluation.

Mixed precision (``config.precision``): ``bf16`` runs forward and loss under ``torch.autocast`` (CPU or
CUDA), ``fp16`` adds a GradScaler (CUDA only). On a CPU without native bf16 the fused LSTM / Elman ops,
which oneDNN cannot run in bf16 there, run in float32 while the rest of the model stays in bf16
(``rnnkit.kernels.fused``).

Reproducibility: each epoch reseeds python, numpy and torch from ``(seed, epoch, rank)`` before
iterating the data, so a re-iterable whose order depends on those generators replays the same
epoch. A checkpoint saves the weights, optimizer, schedule, RNG states, carried state, running
means and the position in the epoch; ``fit(resume=True)`` reseeds the epoch, skips the batches
already consumed, restores the RNG states and continues exactly as the uninterrupted run would.

Run directory: ``fit`` holds it (:class:`~rnnkit.train.rundir.RunDir`: locked, and a fresh run only
into an empty directory unless ``overwrite``) and records what it writes there (``checkpoints/``,
``log.csv``, ``loss.png``, ``tensorboard/``, ``events.log``).

Compiled models: ``Trainer(torch.compile(model))`` (or ``TrainConfig(compile=True)``) trains through
a compiled ``model.loss``; the trainer keeps the original module (:mod:`rnnkit.train.compiled`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from .callbacks import Callback, CallbackList, History
from .checkpoint import CHECKPOINTS
from .compiled import split_compiled
from .config import MONITORED, TrainConfig
from .metrics import Meter
from .evaluation import evaluate_batches
from .outputs import checked, floats
from .plan import batches_after, length, log_interval, planned_steps
from .rng import derive_seed, seed_everything, set_rng_state
from .rundir import RunDir, hold_for_fit
from .runlog import FILES as LOG_FILES
from .runlog import RunLog
from .snapshot import RunState, Snapshot, load_snapshot, save_snapshot
from .tree import detach, to_device
from .updater import Updater

_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
_ENTRIES = (CHECKPOINTS, *LOG_FILES)   # what a fit writes in its run directory


class Trainer:
    """Trains a task model; see the module docstring for what one step does.

    Arguments:
        model: an ``nn.Module`` with ``loss(batch, state=None) -> LossOutput`` and, to rebuild it from
            a checkpoint, a dataclass ``config``; or ``torch.compile(module)`` of one.
        config: the :class:`TrainConfig`.
        run_dir: where checkpoints, ``log.csv``, TensorBoard events, ``events.log`` and ``loss.png`` go
            (None: nowhere): a path, which each ``fit`` opens and closes as a :class:`RunDir`, or an
            open :class:`RunDir`, used as it is. A fresh ``fit`` needs an empty directory (or
            ``overwrite``); a second fresh ``fit`` of this trainer replaces its own first run there.
        callbacks: :class:`Callback` objects, called after the trainer's own :class:`History`.
        metadata: JSON-serialisable task data saved with every checkpoint (e.g. the vocabulary).
        device: where to train; None picks ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
        overwrite: a fresh ``fit`` into a path replaces what rnnkit wrote there (only that).
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters instead of ``config.optimizer``.
        scheduler: a ``torch.optim.lr_scheduler`` object of ``optimizer`` (see :class:`Updater`).
        param_groups: parameter groups ``{"params": [...], "lr_scale": s}`` of the named optimizer, each
            group's lr ``s`` times the schedule's (e.g. :func:`rnnkit.train.finetune.discriminative_groups`).

    Attributes:
        model: the module trained (the original module of a compiled one).
        optimizer: the optimizer (named by the config, or the one passed).
        config: the :class:`TrainConfig`.  history: the :class:`History`.  run_dir: a Path, or None.
        step: optimizer steps done.  epoch: epochs done.  best_val_loss: the lowest validation loss so far.
        stop_training: a callback sets it to stop after the current optimizer step.
        run: the resumable :class:`RunState`.
    """

    def __init__(self, model: nn.Module, config: TrainConfig = TrainConfig(),
                 run_dir: str | Path | RunDir | None = None, callbacks: list[Callback] | tuple = (),
                 metadata: dict | None = None, device=None, *, overwrite: bool = False,
                 optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                 param_groups: list[dict] | None = None):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config: expected a rnnkit.train.TrainConfig, got {type(config).__name__}")
        model, compiler = split_compiled(model, config.compile) if isinstance(model, nn.Module) else (model, None)
        if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
            raise ValueError(f"model: expected an nn.Module with a loss(batch, state=None) method, "
                             f"got {type(model).__name__}")
        try:
            json.dumps(metadata or {})
        except (TypeError, ValueError) as err:
            raise ValueError(f"metadata: expected a JSON-serialisable dict, got {metadata!r:.80}") from err
        self.config = config
        self._given_run_dir = run_dir if isinstance(run_dir, RunDir) else None
        self.run_dir = Path(getattr(run_dir, "path", run_dir)) if run_dir is not None else None
        self.overwrite = bool(overwrite)
        self.metadata = dict(metadata or {})
        self.replicas = distributed.setup(device)
        self.device = self.replicas.device
        if config.precision == "fp16" and self.device.type != "cuda":
            raise ValueError(f"precision: 'fp16' needs a CUDA device, got device {self.device}; use 'bf16' or 'fp32'")
        self.model = model.to(self.device)
        self._loss_module = distributed.wrap(self.model, self.replicas, compiler)
        self.updater = Updater(self.model, config, optimizer, scheduler, param_groups)
        self.history = History()
        self.callbacks = CallbackList([self.history, *callbacks])
        self.stop_training = False
        self.run = RunState()
        self._carry: Any = None       # detached state carried into the next batch
        self._fit_started = self._interval_started = time.perf_counter()
        self._saved_at: tuple | None = None
        self._log: RunLog | None = None
        self._log_every = log_interval(config, None)
        self._wrote_run = False       # a fit of this trainer has written into run_dir

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer (named by the config, or the one passed)."""
        return self.updater.optimizer

    @property
    def schedule(self) -> Any:
        """The learning-rate schedule of a named optimizer during ``fit`` (a callback may wrap it)."""
        return self.updater.schedule

    @schedule.setter
    def schedule(self, schedule: Any) -> None:
        self.updater.schedule = schedule

    @property
    def step(self) -> int:
        """Optimizer steps done."""
        return self.run.step

    @property
    def epoch(self) -> int:
        """Epochs done (the index of the epoch in progress)."""
        return self.run.epoch

    @property
    def best_val_loss(self) -> float:
        """The lowest validation loss so far (inf before the first validation)."""
        return self.run.best_val_loss

    # ------------------------------------------------------------------ public
    def fit(self, train_data: Any, val_data: Any = None, resume: bool = False, *,
            reset_optimizer: bool = False) -> History:
        """Trains for ``config.epochs`` (or until a stop condition) and returns the :class:`History`.

        Arguments:
            train_data: a re-iterable of batches (``iter()`` once per epoch), each accepted by ``model.loss``.
            val_data: batches for validation (None: no validation, no early stopping).
            resume: continue from the newest good checkpoint in ``run_dir`` (a fresh start if there is
                none); changed training settings are accepted and written to the log.
            reset_optimizer: on resume, start from a fresh optimizer (also when the checkpoint has no
                optimizer or carried state, which is otherwise refused).
        Raises:
            RunDirError: the run directory is held by another process, or holds files of another run.
            ValueError: bad data, or (resume) no checkpoint fits this trainer.
            OSError: a checkpoint or log could not be written (the message names the file).
        """
        cfg = self.config
        if val_data is None and (cfg.early_stopping_patience is not None or self.updater.follows_validation):
            raise ValueError("val_data: early_stopping_patience and the 'plateau' schedule (or a ReduceLROnPlateau "
                             "scheduler) follow the validation loss, as does nt-asgd; expected validation data, "
                             "got None")
        train = distributed.shard(train_data, self.replicas)
        carry = bool(getattr(train_data, "carry_state", False))
        planned = planned_steps(cfg, length(train))
        self.updater.plan(planned)
        self._log_every = log_interval(cfg, planned)
        continuing = resume or self._wrote_run
        with hold_for_fit(self._given_run_dir or self.run_dir, self.replicas, resume=continuing,
                          overwrite=self.overwrite and not continuing, replace=self._wrote_run and not resume,
                          entries=_ENTRIES):
            self._wrote_run = self.run_dir is not None
            snapshot = self._restore(reset_optimizer) if resume else None
            if snapshot is None:
                self._start_fresh()
            self.stop_training = False
            if self.replicas.is_main:
                self._log = RunLog(self.run_dir, cfg.progress, planned, self.step)
                for line in snapshot.report(reset_optimizer) if snapshot is not None else ():
                    self._log.message(line)
            try:
                self._fit_started = self._interval_started = time.perf_counter()
                self.callbacks.call("on_train_begin", self, {"step": self.step, "epoch": self.epoch})
                resume_rng = snapshot.rng if snapshot is not None else None
                reason = self._stop_reason()
                while reason is None and self.epoch < cfg.epochs:
                    reason = self._run_epoch(train, val_data, carry, resume_rng)
                    resume_rng = None
                reason = reason or "epochs"
                if self._saved_at != self._where():
                    self._checkpoint()
                if self._log is not None:
                    self._log.message(f"training stopped ({reason}) at step {self.step}, epoch {self.epoch}")
                    self._log.close()
                    self._log = None
            except BaseException:
                if self._log is not None:               # the error that stopped training is the one to report
                    self._log.release()
                    self._log = None
                raise
            self.callbacks.call("on_train_end", self, {"step": self.step, "epoch": self.epoch, "stopped": reason})
            self.replicas.barrier()
        return self.history

    def evaluate(self, data: Any) -> dict[str, float]:
        """The loss over ``data`` (weighted by each batch's count) and the weighted means of its metrics.

        Runs in eval mode without gradients; leaves the RNG states and the train/eval mode as they were.
        Under several replicas each reads its shard and the sums are pooled. With ``nt-asgd``, once
        averaging has begun, the model holds the average of the iterates meanwhile (callbacks' ``on_test_end``
        too, so a kept best model is the averaged one).

        Returns:
            ``{"loss": ..., metric: ...}``.
        """
        batches = distributed.shard(data, self.replicas)
        self.callbacks.call("on_test_begin", self, {"step": self.step})
        with self.updater.averaged():                  # NT-ASGD: the average of the iterates, once triggered
            results, count = evaluate_batches(self.model, batches, carry=bool(getattr(data, "carry_state", False)),
                                              device=self.device, autocast=self._autocast,
                                              all_reduce=self.replicas.all_reduce_sum)
            if count == 0:
                raise ValueError("data: expected at least one evaluation batch, got none")
            self.callbacks.call("on_test_end", self, {"step": self.step, **results})
        return results

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self, train: Any, val_data: Any, carry: bool, resume_rng: dict | None) -> str | None:
        """Runs (the rest of) the current epoch; returns why training must stop, or None."""
        cfg, run = self.config, self.run
        seed_everything(derive_seed(cfg.seed, run.epoch, self.replicas.rank))
        if run.position == 0:
            run.epoch_meter, run.last_validation, self._carry = Meter(), {}, None
        self.callbacks.call("on_epoch_begin", self, {"epoch": run.epoch})
        batches = batches_after(train, run.position, run.epoch)
        if resume_rng is not None and run.position:
            set_rng_state(resume_rng)
        self.model.train()
        batches_per_epoch, micro, reason, exhausted = length(train), 0, None, False
        for batch in batches:
            if reason is not None:
                break
            index = run.position + micro
            if self.callbacks.wants("on_train_batch_begin"):
                self.callbacks.call("on_train_batch_begin", self, {"batch": index, "step": run.step})
            sync = micro + 1 == cfg.accumulate or batches_per_epoch is None or index == batches_per_epoch - 1
            logs = self._train_batch(batch, carry, sync)
            micro += 1
            if micro == cfg.accumulate:
                logs.update(self._optimizer_step(micro))
                micro, run.position = 0, index + 1
            if self.callbacks.wants("on_train_batch_end"):
                self.callbacks.call("on_train_batch_end", self, {"batch": index, "step": run.step, **logs})
            if micro == 0:
                reason = self._after_step(val_data)
        else:
            exhausted = True
            if run.position + micro == 0:
                raise ValueError(f"train_data: no batches in epoch {run.epoch}; expected a re-iterable of batches "
                                 "(a generator can be iterated only once)")
            if micro:
                self._optimizer_step(micro)
                run.position += micro
                reason = self._after_step(val_data)
        if not exhausted:           # the stop point: its row and checkpoint, before validation touches the state
            self._write_row(with_loss=run.interval_meter.count > 0, validated=False)
            if self._saved_at != self._where():
                self._checkpoint()
        validated = val_data is not None and cfg.eval_every is None
        if validated:
            self._validate(val_data)
        self._write_row(with_loss=exhausted and run.interval_meter.count > 0, validated=validated)
        means, _ = run.epoch_meter.summary(self.replicas.all_reduce_sum)
        logs = {"epoch": run.epoch, "step": run.step, **means, "lr": self.updater.lr, **run.last_validation}
        self.callbacks.call("on_epoch_end", self, logs)
        if exhausted:
            run.epoch, run.position, self._carry = run.epoch + 1, 0, None
            if cfg.checkpoint_every is None:
                self._checkpoint()
        return reason or self._stop_reason()

    def _train_batch(self, batch: Any, carry: bool, sync: bool) -> dict:
        """Forward and backward of one batch; returns its logs (loss, count, metrics)."""
        batch = to_device(batch, self.device)
        ddp = self.replicas.world_size > 1
        with self._loss_module.no_sync() if ddp and not sync else contextlib.nullcontext():
            with self._autocast():
                out = checked(self._loss_module(batch, self._carry))
            loss = out.loss.float() if self.config.accumulate == 1 else out.loss.float() / self.config.accumulate
            scaler = self.updater.scaler
            (scaler.scale(loss) if scaler is not None else loss).backward()
        value, metrics = float(out.loss.detach()), floats(out.metrics)
        if not math.isfinite(value) and scaler is None:
            raise FloatingPointError(f"model.loss: the loss is {value} at step {self.step} (epoch {self.epoch}); "
                                     "lower lr, clip gradients, or check the data")
        if carry:
            self._carry = detach(out.state)
        self.run.epoch_meter.add(value, out.count, metrics)
        self.run.interval_meter.add(value, out.count, metrics)
        return {"loss": value, "count": out.count, **metrics}

    def _optimizer_step(self, micro: int) -> dict:
        """The update from ``micro`` batches' gradients; returns lr (and grad_norm)."""
        logs = self.updater.step(micro, self.run.step)
        self.run.step += 1
        return logs

    def _after_step(self, val_data: Any) -> str | None:
        """Progress, validation, log row and checkpoint due at this step; returns a stop reason or None."""
        cfg, step = self.config, self.run.step
        if self._log is not None:
            meter = self.run.interval_meter
            seconds = max(time.perf_counter() - self._interval_started, 1e-9)
            loss = meter.sums.get("loss", 0.0) / max(meter.count, 1)
            self._log.advance(step, loss, meter.count * self.replicas.world_size / seconds)
        validated = cfg.eval_every is not None and val_data is not None and step % cfg.eval_every == 0
        if validated:
            self._validate(val_data)
        self._write_row(with_loss=step % self._log_every == 0, validated=validated)
        if (step % cfg.checkpoint_every == 0) if cfg.checkpoint_every is not None else validated:
            self._checkpoint()
        return self._stop_reason()

    def _validate(self, val_data: Any) -> None:
        results, run = self.evaluate(val_data), self.run
        run.last_validation = {f"val_{name}": value for name, value in results.items()}
        self.updater.observe(results["loss"], run.step)
        run.best_val_loss = min(run.best_val_loss, results["loss"])
        metric = self.config.early_stopping_metric
        if metric not in results:
            if self.config.early_stopping_patience is None:
                return                                                      # nothing watches it
            raise ValueError(f"early_stopping_metric: the model's validation reports no {metric!r} (it reports "
                             f"{', '.join(results)})")
        watched = MONITORED[metric] * results[metric]                       # lower is better
        if watched < run.best_monitored:
            run.best_monitored, run.bad_validations = watched, 0
        else:
            run.bad_validations += 1

    def _write_row(self, with_loss: bool, validated: bool) -> None:
        """One log row (none without a loss or a validation); every replica takes part in pooling the
        interval's statistics."""
        if not (with_loss or validated):
            return
        values, run = {}, self.run
        if with_loss:
            means, count = run.interval_meter.summary(self.replicas.all_reduce_sum)
            now = time.perf_counter()
            values = {"loss": means.get("loss"), "units_per_s": count / max(now - self._interval_started, 1e-9)}
            run.interval_meter, self._interval_started = Meter(), now
        if validated:
            values["val_loss"] = run.last_validation["val_loss"]
            values["val_accuracy"] = run.last_validation.get("val_accuracy")
        if self._log is not None:
            self._log.row(step=run.step, epoch=run.epoch, lr=self.updater.lr, elapsed=self._elapsed(), **values)

    def _stop_reason(self) -> str | None:
        cfg, run = self.config, self.run
        if cfg.early_stopping_patience is not None and run.bad_validations >= cfg.early_stopping_patience:
            return "early_stopping"
        if cfg.max_steps is not None and run.step >= cfg.max_steps:
            return "max_steps"
        time_up = cfg.max_time is not None and self._elapsed() >= cfg.max_time
        if self.replicas.world_size > 1:
            stop, time_up = (bool(v) for v in self.replicas.all_reduce_sum([float(self.stop_training),
                                                                              float(time_up)]))
            self.stop_training = stop
        if self.stop_training:
            return "stop_training"
        return "max_time" if time_up else None

    def _elapsed(self) -> float:
        return self.run.elapsed + time.perf_counter() - self._fit_started

    def _where(self) -> tuple[int, int, int]:
        return self.run.step, self.run.epoch, self.run.position

    def _autocast(self):
        dtype = _AUTOCAST.get(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    # ------------------------------------------------------------------ run directory and checkpoints
    def _start_fresh(self) -> None:
        """A new run: counters, running means and history restart (the model and optimizer state stay,
        as in a second Keras ``fit``)."""
        self.run, self._carry, self._saved_at = RunState(), None, None
        self.history.history = {}

    def _checkpoint(self) -> None:
        """Saves a checkpoint of the whole training state (a no-op without a run directory)."""
        if self.run_dir is None:
            return
        save_snapshot(self.run_dir, self.replicas, model=self.model, updater=self.updater,
                      run=dataclasses.replace(self.run, elapsed=self._elapsed()), history=self.history.history,
                      carry=self._carry, config=self.config, metadata=self.metadata)
        self._saved_at = self._where()

    def _restore(self, reset_optimizer: bool) -> Snapshot | None:
        """Loads the newest checkpoint that fits into the trainer (None: no checkpoint)."""
        if self.run_dir is None:
            raise ValueError("run_dir: resume=True needs the run directory of the interrupted run, got None")
        snapshot = load_snapshot(self.run_dir, self.replicas, model=self.model, updater=self.updater,
                                 config=self.config, device=self.device, reset_optimizer=reset_optimizer)
        if snapshot is not None:
            self.run, self._carry, self.history.history = snapshot.run, snapshot.carry, snapshot.history
            self._saved_at = self._where()
        return snapshot
