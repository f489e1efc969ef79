"""``TrainConfig``: every knob of a training run, frozen and JSON-serialisable (it travels with checkpoints)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "nt-asgd")
SCHEDULES = ("constant", "step", "cosine", "plateau")
PRECISIONS = ("fp32", "bf16", "fp16")
MONITORED = {"loss": 1.0, "accuracy": -1.0}   # validation results early stopping may watch: sign (lower is better)


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        optimizer: ``adam``, ``adamw``, ``sgd`` (with ``momentum``), ``rmsprop`` (with ``momentum``), ``adagrad``,
            ``nt-asgd`` (Merity et al. 2017: plain SGD until the validation loss is worse than the best of the
            validations more than ``nt_asgd_patience`` ago, then the running average of the iterates, which
            evaluation and the kept best model use, while the model keeps SGD's iterate: ``with
            trainer.updater.averaged():`` puts the average in; :mod:`rnnkit.train.averaging`; needs
            validation data; ``momentum`` does not apply).
        nt_asgd_patience: n of ``nt-asgd``'s trigger (validations; the paper's 5).
        lr: base learning rate η.  weight_decay: L2 (decoupled for adamw).  momentum: sgd / rmsprop.
        schedule: ``constant``, ``step`` (×gamma every ``step_size`` optimizer steps), ``cosine`` (to 0 at
            the last planned step), ``plateau`` (×gamma after more than ``plateau_patience`` validations
            without improvement). ``warmup_steps`` of linear warmup combine with any schedule (see
            :class:`rnnkit.train.optim.LRSchedule` for the exact formula).
        clip_norm: clip the global gradient norm to this (None: off; ``inf`` measures the norm without
            clipping).  clip_value: clip each gradient element to ``[-clip_value, clip_value]`` (None:
            off); value clipping runs first.
        accumulate: batches whose gradients are summed (each loss divided by ``accumulate``) per optimizer step.
        epochs: passes over the training data.  max_steps: stop after this many optimizer steps.
        max_time: stop at the first step boundary after this many seconds of training (summed over resumes).
        eval_every: optimizer steps between validations (None: at each epoch end).
        early_stopping_patience: stop after this many validations without a new best
            ``early_stopping_metric`` (None: off).
        early_stopping_metric: the validation result early stopping watches: ``loss`` (lower is better) or
            ``accuracy`` (higher is better; a metric the model's validation reports).
        precision: ``fp32``; ``bf16`` autocast (CPU or CUDA); ``fp16`` autocast with a GradScaler (CUDA only).
            On a CPU without native bf16 (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` False), whose
            oneDNN cannot run the fused LSTM / Elman ops in bf16, those ops run in float32 and the rest
            of the model in bf16 (autocast's rule for ops without a low-precision kernel).
        seed: seeds python, numpy and torch; each epoch reseeds from ``(seed, epoch, rank)``; 0 to 2**64 - 1.
        log_every: optimizer steps between log rows (CSV, TensorBoard, console lines); None: about 50
            rows over the planned steps (every 50 steps when the length is unknown). Every epoch also
            ends with a row, so a short run still logs a training curve.
        progress: show progress: a rich bar when stderr is a terminal (or ``RNNKIT_PROGRESS=1``),
            else one line every ``log_every`` steps; False prints nothing.
        checkpoint_every: optimizer steps between checkpoints (None: at each validation and epoch end).
        compile: train through ``torch.compile`` (its defaults); a model already compiled by
            ``torch.compile(model, ...)`` is trained compiled with its own settings either way.

    Every number must be finite (except ``clip_norm`` / ``clip_value``, where ``inf`` means no clipping).
    """

    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nt_asgd_patience: int = 5
    schedule: str = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.5
    plateau_patience: int = 2
    clip_norm: float | None = 5.0
    clip_value: float | None = None
    accumulate: int = 1
    epochs: int = 1
    max_steps: int | None = None
    max_time: float | None = None
    eval_every: int | None = None
    early_stopping_patience: int | None = None
    early_stopping_metric: str = "loss"
    precision: str = "fp32"
    seed: int = 0
    log_every: int | None = None
    progress: bool = True
    checkpoint_every: int | None = None
    compile: bool = False

    def __post_init__(self):
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("early_stopping_metric", self.early_stopping_metric, tuple(MONITORED))
        for name in ("lr", "gamma"):
            _number(name, getattr(self, name), positive=True)
        for name in ("weight_decay", "momentum"):
            _number(name, getattr(self, name), positive=False)
        for name in ("clip_norm", "clip_value"):
            if getattr(self, name) is not None:
                _number(name, getattr(self, name), positive=True, infinite=True)
        if self.max_time is not None:
            _number("max_time", self.max_time, positive=True)
        for name in ("step_size", "accumulate", "epochs"):
            _integer(name, getattr(self, name), minimum=1)
        for name in ("warmup_steps", "plateau_patience", "nt_asgd_patience"):
            _integer(name, getattr(self, name), minimum=0)
        for name in ("max_steps", "eval_every", "early_stopping_patience", "checkpoint_every", "log_every"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), minimum=1)
        _integer("seed", self.seed, minimum=0, maximum=2**64 - 1)
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile: expected True or False, got {self.compile!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Rebuilds a config from ``dataclasses.asdict`` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


def _number(name: str, value, positive: bool, infinite: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 \
            or (positive and value == 0):
        expected = "a positive number" if positive else "a number >= 0"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    if value == math.inf and not infinite:
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


def _integer(name: str, value, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        expected = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
