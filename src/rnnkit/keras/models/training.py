"""``compile`` / ``fit`` / ``evaluate`` / ``predict`` for Keras models, on rnnkit's training engine.

``fit`` wraps the model in :class:`CompiledModel` (the engine's task protocol: ``loss(batch) ->
LossOutput``) and runs :class:`rnnkit.train.Trainer`: one optimizer step per batch, Keras' loss
reduction plus the weight and activity penalties, constraints applied after every step, and the
Keras callbacks through :class:`~rnnkit.keras.callbacks.TrainerBridge`. The optimizer state (Adam's
moments, ...) carries from one ``fit`` to the next until ``compile`` is called again.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from ...nn.losses import LossOutput
from ...train import TrainConfig, Trainer
from ...train.tree import to_device
from .. import callbacks as callbacks_module
from .. import data_adapter, losses, metrics, optimizers
from ..layers.base import get_mask
from ..layers.symbolic import flatten


@dataclasses.dataclass(frozen=True)
class CompiledConfig:
    """What the engine records about a Keras model in checkpoints: its name and class."""

    model_name: str
    model_class: str


class CompiledModel(nn.Module):
    """The engine's task protocol around a compiled Keras model: ``loss((x, y, sample_weight))``."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model
        self.config = CompiledConfig(model.name, type(model).__name__)

    def loss(self, batch: tuple, state: Any = None) -> LossOutput:
        x, y, sample_weight = batch
        y_pred = self.model(x)
        total, logs = self.model.compute_loss_and_metrics(y, y_pred, sample_weight)
        return LossOutput(total, count=len(flatten(x)[0]), metrics=logs)


class Limited:
    """At most ``steps`` batches of ``data`` per pass (Keras' ``steps_per_epoch`` / ``steps``)."""

    def __init__(self, data: Any, steps: int):
        self.data, self.steps = data, steps

    def __len__(self) -> int:
        try:
            return min(len(self.data), self.steps)
        except TypeError:
            return self.steps

    def __iter__(self):
        return itertools.islice(iter(self.data), self.steps)


def _limit(data: Any, steps: Any, name: str) -> Any:
    if steps is None or data is None:
        return data
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{name}: expected a positive integer or None, got {steps!r}")
    return Limited(data, steps)


def _per_output(spec: Any, names: list[str], argument: str) -> list[Any]:
    """A compile argument given once, as a list (one per output) or as a dict by output name."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"{argument}: unknown output names {sorted(unknown)}; outputs are {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1:
        if len(spec) != len(names):
            raise ValueError(f"{argument}: expected {len(names)} entries (one per output), got {len(spec)}")
        return list(spec)
    return [spec] * len(names)


def _metric_lists(spec: Any, names: list[str]) -> list[list]:
    """One list of metrics per output: a dict by output name, a list per output, or one list for all."""
    def as_list(value: Any) -> list:
        return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(spec, dict):
        return [as_list(item) for item in _per_output(spec, names, "metrics")]
    if isinstance(spec, (list, tuple)) and len(names) > 1 and all(
            item is None or isinstance(item, (list, tuple)) for item in spec):
        return [as_list(item) for item in _per_output(list(spec), names, "metrics")]
    return [as_list(spec) for _ in names]


class TrainingMixin:
    """Keras' training API; mixed into :class:`~rnnkit.keras.models.Model`."""

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None, metrics: Any = None,
                weighted_metrics: Any = None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile: Any = "auto", auto_scale_loss: bool = True) -> None:
        """Sets the optimizer (name or :mod:`rnnkit.keras.optimizers` object), the loss (name, Loss object,
        callable; a list or dict for several outputs), ``loss_weights``, ``metrics`` and ``weighted_metrics``
        (averaged with the sample weights). ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and
        ``auto_scale_loss`` are Keras' compilation knobs: accepted, without effect here."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self.loss_weights = loss_weights
        self.compiled_metrics = metrics
        self.weighted_metrics = weighted_metrics
        self.compile_arguments = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                                  "metrics": metrics}
        self.compiled = True
        self._optimizer_state = None

    # ---- the loss of one batch ----------------------------------------------------------------
    def output_names(self, count: int) -> list[str]:
        """Names of the outputs, for per-output losses, metrics and logs."""
        names = [getattr(layer, "name", f"output_{k}") for k, layer in enumerate(getattr(self, "output_layers", []))]
        return names if len(names) == count else [f"output_{k}" for k in range(count)]

    def compute_loss_and_metrics(self, y: Any, y_pred: Any, sample_weight: Any = None) -> tuple[torch.Tensor, dict]:
        """``(total loss, metric logs)`` of one batch: Keras' reduction of each output's loss, weighted by
        ``loss_weights``, plus the layers' penalties (``model.losses``)."""
        if not getattr(self, "compiled", False) or self.loss is None:
            raise ValueError(f"{self.name}: call compile(optimizer, loss) before fit / evaluate")
        preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        names = self.output_names(len(preds))
        if isinstance(y, dict):
            targets = [y[name] for name in names]
        else:
            targets = list(y) if isinstance(y, (list, tuple)) and len(preds) > 1 else [y]
        if y is None or any(t is None for t in targets):
            raise ValueError(f"y: the loss needs targets for the {len(preds)} output(s), got none (pass y, or "
                             "batches of (x, y))")
        if len(targets) != len(preds):
            raise ValueError(f"y: expected {len(preds)} target arrays (one per output), got {len(targets)}")
        loss_fns = [losses.get(spec) if spec is not None else None for spec in _per_output(self.loss, names, "loss")]
        weights = _per_output(self.loss_weights if self.loss_weights is not None else 1.0, names, "loss_weights")
        plain = _metric_lists(self.compiled_metrics, names)
        weighted = _metric_lists(self.weighted_metrics, names)
        total = preds[0].new_zeros(())
        logs: dict[str, float] = {}
        for k, (name, fn, weight, target, pred) in enumerate(zip(names, loss_fns, weights, targets, preds)):
            mask = get_mask(pred)
            if fn is not None:
                output = "the model's output" if len(preds) == 1 else f"the output {name!r}"
                losses.check_target(losses.rule_of(fn), target, pred, "y", output, losses.name_of(fn))
                value = losses.compute(fn, target, pred, sample_weight, mask)
                total = total + (1.0 if weight is None else float(weight)) * value
                if len(preds) > 1:
                    logs[f"{name}_loss"] = float(value.detach())
            with torch.no_grad():
                for spec, metric_weight in [(spec, None) for spec in plain[k]] + [(spec, sample_weight)
                                                                                 for spec in weighted[k]]:
                    label = metrics.display_name(spec)
                    key = label if len(preds) == 1 else f"{name}_{label}"
                    values = metrics.resolve(spec, fn, target, pred)(target, pred)
                    logs[key] = float(metrics.weighted_mean(values, metric_weight, mask))
        self.metrics_names = ["loss", *logs]
        penalties = self.losses
        if penalties:
            total = total + torch.stack([p.reshape(()) for p in penalties]).sum()
        return total, logs

    # ---- fit / evaluate / predict --------------------------------------------------------------
    def _trainer(self, epochs: int, callbacks: list, verbose: Any, params: dict, initial_epoch: int = 0) -> Trainer:
        fields = self.optimizer.train_fields()
        config = TrainConfig(**fields, epochs=max(int(epochs), 1), seed=int(torch.randint(2 ** 31 - 1, ())),
                             progress=verbose not in (0, False), log_every=max(1, params.get("steps") or 50))
        bridge = callbacks_module.TrainerBridge(self, callbacks, params, initial_epoch)
        trainer = Trainer(CompiledModel(self), config, callbacks=[bridge], device=self._device())
        self.optimizer.tune(trainer.optimizer)
        if self._optimizer_state is not None:
            trainer.optimizer.load_state_dict(self._optimizer_state)
        return trainer

    def _device(self) -> torch.device | None:
        """Where the model's weights are; None for CPU, so the engine picks CUDA when present (as Keras)."""
        params = list(self.parameters())
        return params[0].device if params and params[0].device.type not in ("cpu", "meta") else None

    def _ensure_built_on(self, data: Any) -> None:
        """Builds an unbuilt model on the first batch of ``data`` (the engine needs the parameters to exist).

        Raises:
            ValueError: data without a single batch.
        """
        batch = next(iter(data), None)
        if batch is None:
            raise ValueError("x: expected at least one sample, got none")
        if not self.built or not list(self.parameters()):
            with torch.no_grad():
                self(batch[0])

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: dict | None = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1) -> callbacks_module.History:
        """Trains with :class:`rnnkit.train.Trainer`; returns a Keras :class:`~rnnkit.keras.callbacks.History`.

        Epochs run from ``initial_epoch`` to ``epochs - 1``. ``validation_freq`` must be 1 (validation
        runs after every epoch).
        """
        if validation_freq != 1:
            raise ValueError(f"validation_freq: rnnkit validates after every epoch; expected 1, "
                             f"got {validation_freq!r}")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1 or not 0 <= initial_epoch < epochs:
            raise ValueError(f"epochs: expected an integer > initial_epoch >= 0, got epochs={epochs!r}, "
                             f"initial_epoch={initial_epoch!r}")
        if not getattr(self, "compiled", False):
            raise ValueError(f"{self.name}: call compile(optimizer, loss) before fit")
        train, val = data_adapter.training_data(x, y, batch_size, shuffle, sample_weight, class_weight,
                                                validation_split, validation_data)
        if validation_batch_size is not None and isinstance(val, data_adapter.ArrayBatches):
            val.batch_size = data_adapter._batch_size(validation_batch_size, "validation_batch_size")
        train = _limit(train, steps_per_epoch, "steps_per_epoch")
        val = _limit(val, validation_steps, "validation_steps")
        self._ensure_built_on(train)
        history = callbacks_module.History()
        params = {"epochs": epochs, "steps": data_adapter.length_or_none(train), "verbose": verbose}
        trainer = self._trainer(epochs - initial_epoch, [*(callbacks or []), history], verbose, params,
                                initial_epoch)
        self._active_trainer = trainer
        try:
            trainer.fit(train, val)
        finally:
            self._active_trainer = None
            self._optimizer_state = trainer.optimizer.state_dict()
            self.eval()
        return history

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 sample_weight: Any = None, steps: int | None = None, callbacks: list | None = None,
                 return_dict: bool = False) -> Any:
        """The loss (and metrics) over the data with the engine's ``evaluate``: a float, a list
        ``[loss, *metrics]`` when metrics were compiled, or a dict with ``return_dict``."""
        if not getattr(self, "compiled", False):
            raise ValueError(f"{self.name}: call compile(optimizer, loss) before evaluate")
        data = _limit(data_adapter.evaluation_data(x, y, batch_size, sample_weight), steps, "steps")
        self._ensure_built_on(data)
        results = self._trainer(1, callbacks or [], 0, {}).evaluate(data)
        self.eval()
        if return_dict:
            return results
        if len(results) == 1:
            return results["loss"]
        return [results[name] for name in self.metrics_names]

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto", steps: int | None = None,
                callbacks: list | None = None) -> Any:
        """Outputs in inference mode, batch by batch, as numpy arrays (a list for several outputs)."""
        batches = data_adapter.prediction_batches(x, batch_size)
        if steps is not None:
            batches = itertools.islice(batches, steps)
        was_training = self.training
        self.eval()
        parts: list[list[np.ndarray]] = []
        device = self._device()
        with torch.no_grad():
            for batch in batches:
                out = self(to_device(batch, device) if device is not None else batch)
                outs = list(out) if isinstance(out, (list, tuple)) else [out]
                parts.append([o.detach().cpu().numpy() for o in outs])
        self.train(was_training)
        if not parts:
            raise ValueError("x: expected at least one sample to predict, got none")
        joined = [np.concatenate(column, axis=0) for column in zip(*parts)]
        return joined[0] if len(joined) == 1 else joined

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(x, batch_size=len(flatten(data_adapter._tensors(x))[0]))
