"""Keras optimizers mapped onto the training engine's ``torch.optim`` optimizers.

Each object gives :class:`rnnkit.train.TrainConfig` its optimizer name, learning rate, momentum,
weight decay and clipping, then sets Keras' remaining hyperparameters (betas, epsilon, rho,
nesterov, ...) on the torch optimizer's parameter groups. The update rules are torch's; Keras'
default values are kept (``epsilon=1e-7``, RMSprop ``rho=0.9``). A ``weight_decay`` on Adam is
decoupled, as in Keras 3, so it trains with torch's AdamW. ``clipnorm`` (Keras: per variable) and
``global_clipnorm`` both clip the global gradient norm.
"""
from __future__ import annotations

from typing import Any

import torch


class Optimizer:
    """Base: ``train_fields()`` for TrainConfig and ``tune(torch_optimizer)`` for the rest."""

    engine_name = "adam"

    def __init__(self, learning_rate: float, weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None, name: str | None = None,
                 **unused: Any):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
            raise ValueError(f"learning_rate: expected a positive number (schedules: use callbacks), "
                             f"got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm = global_clipnorm if global_clipnorm is not None else clipnorm
        self.clipvalue = clipvalue
        self.name = name or type(self).__name__.lower()

    def train_fields(self) -> dict:
        """The TrainConfig fields this optimizer sets."""
        return {"optimizer": self.engine_name, "lr": self.learning_rate, "weight_decay": self.weight_decay or 0.0,
                "momentum": 0.0, "clip_norm": self.clipnorm, "clip_value": self.clipvalue}

    def tune(self, optimizer: torch.optim.Optimizer) -> None:
        """Sets Keras' hyperparameters on the torch optimizer's parameter groups."""

    def _set(self, optimizer: torch.optim.Optimizer, **values: Any) -> None:
        for group in optimizer.param_groups:
            group.update(values)


class Adam(Optimizer):
    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, bool(amsgrad)

    def train_fields(self) -> dict:
        fields = super().train_fields()
        if self.weight_decay:
            fields["optimizer"] = "adamw"
        return fields

    def tune(self, optimizer):
        self._set(optimizer, betas=(self.beta_1, self.beta_2), eps=self.epsilon, amsgrad=self.amsgrad)


class AdamW(Adam):
    engine_name = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, **kwargs: Any):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class SGD(Optimizer):
    engine_name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def train_fields(self) -> dict:
        return {**super().train_fields(), "momentum": self.momentum}

    def tune(self, optimizer):
        self._set(optimizer, nesterov=self.nesterov)


class RMSprop(Optimizer):
    engine_name = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, float(momentum), epsilon, bool(centered)

    def train_fields(self) -> dict:
        return {**super().train_fields(), "momentum": self.momentum}

    def tune(self, optimizer):
        self._set(optimizer, alpha=self.rho, eps=self.epsilon, centered=self.centered)


class Adagrad(Optimizer):
    engine_name = "adagrad"

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), epsilon

    def tune(self, optimizer):
        self._set(optimizer, eps=self.epsilon, initial_accumulator_value=self.initial_accumulator_value)
        for group in optimizer.param_groups:
            for param in group["params"]:
                state = optimizer.state.get(param)
                if state and "sum" in state and not int(state.get("step", 0)):
                    state["sum"].fill_(self.initial_accumulator_value)


CLASSES = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adamw"``, ``"adagrad"``) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in CLASSES:
        return CLASSES[identifier.lower()]()
    raise ValueError(f"optimizer: expected one of {sorted(CLASSES)} or a rnnkit.keras.optimizers object, "
                     f"got {identifier!r}")
