"""``Updater``: from the summed gradients to a parameter update, and the state that goes with it.

One optimizer step: unscale the gradients (fp16's GradScaler), rescale a short accumulation, clip
by value then by norm, set the learning rate, step the optimizer, step a torch scheduler, and (NT-ASGD,
once triggered) fold the new weights into the iterate average (:mod:`rnnkit.train.averaging`).

The optimizer is either named by :class:`TrainConfig` (its learning rate follows
:class:`~rnnkit.train.optim.LRSchedule`; ``weight_decay`` and ``momentum`` follow the config, also
after a resume) or a ``torch.optim.Optimizer`` over the model's parameters. An optimizer object keeps
its own learning rate, changed only by ``scheduler``: a ``torch.optim.lr_scheduler`` object stepped
after every optimizer step (``ReduceLROnPlateau`` after every validation, with its loss). The
optimizer's tensors, its numbers and class, the schedule, the scheduler and the GradScaler go into
every checkpoint and come back exactly on resume.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .averaging import PREFIX, IterateAverage
from .config import TrainConfig
from .optim import LRSchedule, build_optimizer, load_optimizer_state, momentum_of, optimizer_state

RESET_HINT = "pass reset_optimizer=True (--reset-optimizer) to resume with a fresh optimizer"


class Updater:
    """The optimizer, its learning rate and the GradScaler of a :class:`~rnnkit.train.Trainer`.

    Arguments:
        model: the model whose parameters are updated.
        config: the :class:`TrainConfig` (clipping, precision; the optimizer and schedule when named).
        optimizer: a ``torch.optim.Optimizer`` over ``model``'s parameters, or None to build ``config.optimizer``.
        scheduler: a ``torch.optim.lr_scheduler`` object of ``optimizer`` (needs ``optimizer``), or None.
        param_groups: for the named optimizer, groups ``{"params": [...], "lr_scale": s}`` that cover the
            model's trainable parameters, each group's lr ``s`` times the schedule's; None: one group.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, optimizer: torch.optim.Optimizer | None = None,
                 scheduler: LRScheduler | None = None, param_groups: list[dict] | None = None):
        _check_objects(model, config, optimizer, scheduler)
        _check_groups(model, optimizer, param_groups)
        self.config, self._model = config, model
        self.named = optimizer is None
        self._params = list(model.parameters()) if param_groups is None else param_groups
        self.optimizer = build_optimizer(self._params, config) if optimizer is None else optimizer
        self.scheduler = scheduler
        self.scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" else None
        self.schedule: LRSchedule | None = None
        self.average = self._fresh_average()

    @property
    def follows_validation(self) -> bool:
        """Whether the learning rate or the update needs validation losses (plateau schedules, NT-ASGD)."""
        return (self.config.schedule == "plateau" or isinstance(self.scheduler, ReduceLROnPlateau)
                or self.average is not None)

    def averaged(self):
        """A context in which the model holds NT-ASGD's average of the iterates (a no-op otherwise)."""
        return self.average.swapped() if self.average is not None else contextlib.nullcontext()

    def _fresh_average(self) -> IterateAverage | None:
        if not (self.named and self.config.optimizer == "nt-asgd"):
            return None
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        return IterateAverage(params, self.config.nt_asgd_patience)

    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group (divided by its ``lr_scale``: the schedule's)."""
        group = self.optimizer.param_groups[0]
        return group["lr"] / group.get("lr_scale", 1.0)

    def plan(self, total_steps: int | None) -> None:
        """Sets up the named schedule for a run of ``total_steps`` optimizer steps (None: unknown)."""
        self.schedule = LRSchedule(self.config, total_steps) if self.named else None

    def step(self, micro: int, step: int) -> dict:
        """Updates the parameters from the gradients of ``micro`` batches, after ``step`` steps.

        Returns:
            ``{"lr": ...}`` and ``grad_norm`` when clipping by norm.
        """
        cfg = self.config
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        if micro != cfg.accumulate:
            for p in params:
                p.grad.mul_(cfg.accumulate / micro)
        logs = {}
        if cfg.clip_value is not None:
            nn.utils.clip_grad_value_(params, cfg.clip_value)
        if cfg.clip_norm is not None:
            logs["grad_norm"] = float(nn.utils.clip_grad_norm_(params, cfg.clip_norm))
        logs["lr"] = self.schedule.apply(self.optimizer, step) if self.schedule is not None else self.lr
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
        if self.average is not None:
            self.average.update()
        return logs

    def observe(self, val_loss: float, step: int) -> None:
        """Plateau and NT-ASGD bookkeeping after a validation at ``step`` optimizer steps."""
        if self.schedule is not None:
            self.schedule.observe(val_loss)
        if self.average is not None:
            self.average.observe(val_loss, step)
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(val_loss)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """``(tensors, entries)``: the optimizer's tensors, and JSON entries for ``state.json``."""
        tensors, rest = optimizer_state(self.optimizer)
        scheduler = None if self.scheduler is None else {"class": _class_name(self.scheduler),
                                                         "state": self.scheduler.state_dict()}
        average = None
        if self.average is not None:
            average_tensors, average = self.average.state()
            tensors = {**tensors, **average_tensors}
        return tensors, {"optimizer_class": _class_name(self.optimizer), "optimizer": rest,
                         "schedule": self.schedule.state_dict() if self.schedule is not None else None,
                         "scheduler": scheduler, "scaler": self.scaler.state_dict() if self.scaler else None,
                         "nt_asgd": average}

    def check(self, entries: dict, missing: tuple[str, ...], reset: bool) -> None:
        """Raises ValueError unless a checkpoint's optimizer state fits (a no-op with ``reset``)."""
        if reset:
            return
        if "optimizer" in missing:
            raise ValueError(f"optimizer.safetensors: missing; {RESET_HINT}")
        saved, mine = entries.get("optimizer_class"), _class_name(self.optimizer)
        if saved is not None and saved != mine:
            raise ValueError(f"optimizer: the run used {saved}, this trainer has {mine}; {RESET_HINT}")
        saved = (entries.get("scheduler") or {}).get("class")
        mine = None if self.scheduler is None else _class_name(self.scheduler)
        if saved != mine:
            raise ValueError(f"scheduler: the run used {saved}, this trainer has {mine}; {RESET_HINT}")

    def load(self, tensors: dict[str, torch.Tensor], entries: dict, reset: bool) -> None:
        """Restores the state :meth:`state` saved (checked by :meth:`check`); ``reset``: a fresh optimizer."""
        if reset:
            self.reset()
        else:
            average = {name: t for name, t in tensors.items() if name.startswith(PREFIX)}
            load_optimizer_state(self.optimizer, {name: t for name, t in tensors.items() if name not in average},
                                 entries["optimizer"])
            if self.average is not None and entries.get("nt_asgd"):
                self.average.load(average, entries["nt_asgd"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(entries["scheduler"]["state"])
            if self.named:
                _apply_config(self.optimizer, self.config)
        if self.scaler is not None and entries.get("scaler"):
            self.scaler.load_state_dict(entries["scaler"])
        if self.schedule is not None and entries.get("schedule"):
            self.schedule.load_state_dict(entries["schedule"])

    def reset(self) -> None:
        """A fresh optimizer: the named one is rebuilt (NT-ASGD's trigger and average restart too), an
        optimizer object forgets its state."""
        if self.named:
            self.optimizer = build_optimizer(self._params, self.config)
            self.average = self._fresh_average()
        else:
            self.optimizer.state.clear()


def _check_objects(model: nn.Module, config: TrainConfig, optimizer: Any, scheduler: Any) -> None:
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer: expected a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
        own = {id(p) for p in model.parameters()}
        if not all(id(p) in own for group in optimizer.param_groups for p in group["params"]):
            raise ValueError("optimizer: expected an optimizer over the model's parameters, got one over others")
        if config.schedule != "constant" or config.warmup_steps:
            raise ValueError("schedule: an optimizer object keeps its own learning rate; pass a "
                             "torch.optim.lr_scheduler as scheduler= instead of schedule / warmup_steps")
    if scheduler is not None:
        if not isinstance(scheduler, LRScheduler):
            raise ValueError(f"scheduler: expected a torch.optim.lr_scheduler object or None, "
                             f"got {type(scheduler).__name__}")
        if optimizer is None or scheduler.optimizer is not optimizer:
            raise ValueError("scheduler: expected a scheduler of the optimizer passed as optimizer=")
        try:
            json.dumps(scheduler.state_dict())
        except (TypeError, ValueError) as err:
            raise ValueError(f"scheduler: its state_dict must be JSON-serialisable to be checkpointed ({err})") \
                from None


def _check_groups(model: nn.Module, optimizer: Any, param_groups: list[dict] | None) -> None:
    """Parameter groups go with the named optimizer and hold each trainable parameter of the model once."""
    if param_groups is None:
        return
    if optimizer is not None:
        raise ValueError("param_groups: an optimizer object has its own groups; pass one or the other")
    grouped = [id(p) for group in param_groups for p in group["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if len(grouped) != len(set(grouped)) or not trainable <= set(grouped) \
            or not set(grouped) <= {id(p) for p in model.parameters()}:
        raise ValueError("param_groups: expected groups that hold every trainable parameter of the model "
                         "once and nothing else")


def _apply_config(optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    """The config's weight decay and momentum in every parameter group (they may have changed on resume)."""
    for group in optimizer.param_groups:
        group["weight_decay"] = config.weight_decay
        if "momentum" in group:
            group["momentum"] = momentum_of(config)


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
