r"""Optimizers by name and the learning-rate schedule (warmup × decay), with JSON state.

The schedule is a pure function of the optimizer step plus the plateau bookkeeping, so it
checkpoints as a few numbers. For the update that follows ``s`` completed optimizer steps::

    lr(s) = lr · w(s) · d(p),      p = max(0, s - warmup_steps)
    w(s)  = min(1, (s + 1) / warmup_steps)            (1 without warmup)
    d(p)  = 1                                         constant
          = gamma ** floor(p / step_size)             step
          = (1 + cos(π · min(p, P) / P)) / 2          cosine, P = total_steps - warmup_steps
          = gamma ** (reductions so far)              plateau

Plateau: a validation loss below the best so far is an improvement; after more than
``plateau_patience`` validations in a row without one, the factor is multiplied by ``gamma``
and the count restarts (``torch.optim.lr_scheduler.ReduceLROnPlateau`` with ``threshold=0``).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from .config import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter] | Iterable[dict],
                    config: TrainConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer named by ``config.optimizer`` over ``params``: parameters, or
    parameter groups ``{"params": [...], "lr_scale": s}`` whose learning rate is ``s`` times the
    schedule's (discriminative learning rates, :func:`rnnkit.train.finetune.discriminative_groups`)."""
    items = list(params)
    groups = items if items and isinstance(items[0], dict) else [{"params": items}]
    groups = [{**group, "params": [p for p in group["params"] if p.requires_grad]} for group in groups]
    params = [{**group, "lr": config.lr * group.get("lr_scale", 1.0)} for group in groups if group["params"]]
    if not params:
        raise ValueError("model: expected at least one parameter with requires_grad=True, got none")
    lr, decay = config.lr, config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if config.optimizer in ("sgd", "nt-asgd"):      # nt-asgd: averaging by rnnkit.train.averaging
        return torch.optim.SGD(params, lr=lr, momentum=momentum_of(config), weight_decay=decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=decay)


def momentum_of(config: TrainConfig) -> float:
    """The momentum of sgd / rmsprop; 0 for nt-asgd, whose average is of plain SGD's iterates."""
    return 0.0 if config.optimizer == "nt-asgd" else config.momentum


class LRSchedule:
    """The learning rate of every optimizer step (see the module docstring for the formula).

    Arguments:
        config: supplies ``lr``, ``schedule``, ``warmup_steps``, ``step_size``, ``gamma``, ``plateau_patience``.
        total_steps: the planned number of optimizer steps; required by ``cosine`` only.
    """

    def __init__(self, config: TrainConfig, total_steps: int | None = None):
        if config.schedule == "cosine" and total_steps is None:
            raise ValueError("schedule: 'cosine' needs the planned number of steps; set max_steps or pass "
                             "training data that has len()")
        self.config, self.total_steps = config, total_steps
        self.plateau_factor, self.best, self.bad_validations = 1.0, math.inf, 0

    def lr(self, step: int) -> float:
        """The learning rate of the update after ``step`` completed optimizer steps."""
        cfg = self.config
        warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        p = max(0, step - cfg.warmup_steps)
        if cfg.schedule == "step":
            decay = cfg.gamma ** (p // cfg.step_size)
        elif cfg.schedule == "cosine":
            span = self.total_steps - cfg.warmup_steps
            decay = 0.5 * (1.0 + math.cos(math.pi * min(p, span) / span)) if span > 0 else 1.0
        elif cfg.schedule == "plateau":
            decay = self.plateau_factor
        else:
            decay = 1.0
        return cfg.lr * warmup * decay

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Sets every parameter group's lr for the update after ``step`` steps (times the group's
        ``lr_scale``, if it has one); returns the unscaled lr."""
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def observe(self, val_loss: float) -> None:
        """Plateau bookkeeping after a validation (a no-op for the other schedules)."""
        if self.config.schedule != "plateau":
            return
        if val_loss < self.best:
            self.best, self.bad_validations = val_loss, 0
            return
        self.bad_validations += 1
        if self.bad_validations > self.config.plateau_patience:
            self.plateau_factor *= self.config.gamma
            self.bad_validations = 0

    def state_dict(self) -> dict:
        """The plateau bookkeeping as JSON (everything else follows from the config and the step)."""
        return {"plateau_factor": self.plateau_factor, "best": self.best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_factor, self.best = float(state["plateau_factor"]), float(state["best"])
        self.bad_validations = int(state["bad_validations"])


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, rest)``: the optimizer's state_dict split into named tensors and JSON.

    Tensors are named ``"{param_index}.{key}"`` (e.g. ``"3.exp_avg"``); ``rest`` keeps the
    non-tensor per-parameter entries and the param groups.
    """
    state_dict = optimizer.state_dict()
    tensors, rest = {}, {}
    for index, entries in state_dict["state"].items():
        rest[str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                rest[str(index)][key] = value
    return tensors, {"state": rest, "param_groups": state_dict["param_groups"]}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict) -> None:
    """Inverse of :func:`optimizer_state` (JSON lists in the param groups become tuples again, e.g. betas)."""
    state: dict[int, dict] = {int(index): dict(entries) for index, entries in rest["state"].items()}
    for name, tensor in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    groups = [{key: tuple(value) if isinstance(value, list) and key != "params" else value
               for key, value in group.items()} for group in rest["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
