"""The trainer's resumable state and how it goes into a checkpoint and comes back.

A checkpoint written by the trainer holds, besides the weights: the optimizer, schedule, scheduler
and GradScaler (:meth:`Updater.state`), the :class:`RunState` counters and running means, the
history, the training config, and per replica its RNG states and the recurrent state carried into
the next batch (``carry.safetensors``). Every replica sends its part to rank 0, which writes the
checkpoint.

Resume takes the newest checkpoint that verifies (:func:`~rnnkit.train.checkpoint.load_checkpoint`)
and fits: the same model class and configuration (a change is refused, naming the fields), the
same weight shapes, a complete training state, and an optimizer state (and carried state, when the
run carried one) unless ``reset_optimizer``. Changed training settings are accepted and reported.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint, has_checkpoint, load_checkpoint, model_description, save_checkpoint
from .compare import check_shapes, config_changes, field_defaults
from .config import TrainConfig
from .distributed import Replicas
from .metrics import Meter
from .rng import get_rng_state
from .tree import flatten, to_device, unflatten
from .updater import RESET_HINT, Updater


@dataclass
class RunState:
    """Where a run stands.

    Attributes:
        step: optimizer steps done.  epoch: epochs done.
        position: batches of the current epoch consumed at the last optimizer step.
        elapsed: seconds of training before the current ``fit`` call.
        best_val_loss: the best validation loss.
        best_monitored / bad_validations: the best value of the result early stopping watches (signed so
            that lower is better; TrainConfig.early_stopping_metric) and the validations since it.
        epoch_meter / interval_meter: running means of the epoch and of the current log interval.
        last_validation: the epoch's latest validation results as ``val_<name>``.
    """

    step: int = 0
    epoch: int = 0
    position: int = 0
    elapsed: float = 0.0
    best_val_loss: float = math.inf
    best_monitored: float = math.inf
    bad_validations: int = 0
    epoch_meter: Meter = field(default_factory=Meter)
    interval_meter: Meter = field(default_factory=Meter)
    last_validation: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "epoch_meter": self.epoch_meter.state_dict(),
                "interval_meter": self.interval_meter.state_dict()}

    @classmethod
    def from_json(cls, values: dict) -> "RunState":
        epoch_meter, interval_meter = Meter(), Meter()
        epoch_meter.load_state_dict(values["epoch_meter"])
        interval_meter.load_state_dict(values["interval_meter"])
        return cls(**{**values, "epoch_meter": epoch_meter, "interval_meter": interval_meter})


@dataclass
class Snapshot:
    """What :func:`load_snapshot` hands back to the trainer (the model and optimizer are loaded in place).

    Attributes:
        run, history, carry, rng: this replica's training state.
        path: the checkpoint resumed.
        changes: the training settings that differ from the run's, as ``"lr 0.002 -> 0.001"``.
    """

    run: RunState
    history: dict[str, list]
    carry: Any
    rng: dict
    path: Path | None = None
    changes: list[str] = field(default_factory=list)

    def report(self, reset_optimizer: bool) -> list[str]:
        """Log lines: where training resumes, with a fresh optimizer or not, and the changed settings."""
        lines = [f"resumed from {self.path} at step {self.run.step}, epoch {self.run.epoch}"
                 + (" with a fresh optimizer (reset_optimizer)" if reset_optimizer else "")]
        if self.changes:
            lines.append(f"training settings changed since the checkpoint: {', '.join(self.changes)}")
        return lines


def save_snapshot(run_dir: Path, replicas: Replicas, *, model: torch.nn.Module, updater: Updater, run: RunState,
                  history: dict, carry: Any, config: TrainConfig, metadata: dict) -> None:
    """Writes a checkpoint of the whole training state; every replica must call it (rank 0 writes)."""
    structure, carried = flatten(carry)
    local = {str(i): tensor for i, tensor in enumerate(carried)}
    local["json"] = _text_tensor(json.dumps({"rng": get_rng_state(), "carry": structure}))
    gathered = replicas.all_gather_tensors(local)
    if not replicas.is_main:
        return
    ranks, carry_file = [], {}
    for rank, tensors in enumerate(gathered):
        ranks.append(json.loads(bytes(tensors.pop("json").numpy()).decode("utf-8")))
        carry_file.update({f"{rank}.{name}": tensor for name, tensor in tensors.items()})
    optimizer_tensors, updater_entries = updater.state()
    state = {"train_config": dataclasses.asdict(config), **run.to_json(), **updater_entries,
             "history": history, "world_size": replicas.world_size, "ranks": ranks}
    tensors = {"optimizer": optimizer_tensors, **({"carry": carry_file} if carry_file else {})}
    save_checkpoint(run_dir, model, metadata=metadata, state=state, tensors=tensors)


def load_snapshot(run_dir: Path, replicas: Replicas, *, model: torch.nn.Module, updater: Updater,
                  config: TrainConfig, device: torch.device, reset_optimizer: bool = False) -> Snapshot | None:
    """Loads the newest checkpoint of ``run_dir`` that fits into the model and the updater.

    Returns:
        The rest of the state for this replica, or None if ``run_dir`` has no checkpoint.
    Raises:
        ValueError: no checkpoint fits; the message says why for each (another model class or
            configuration, a missing optimizer or carried state, a different number of replicas mid-epoch, ...).
    """
    if not has_checkpoint(run_dir):
        return None
    decoded: dict[Path, Snapshot] = {}

    def check(checkpoint: Checkpoint) -> None:
        decoded[checkpoint.path] = _decode(checkpoint, model, updater, config, replicas, device, reset_optimizer)

    checkpoint = load_checkpoint(run_dir, check=check)
    model.load_state_dict(checkpoint.weights)
    updater.load(checkpoint.tensors("optimizer"), checkpoint.state, reset_optimizer)
    return decoded[checkpoint.path]


def _decode(checkpoint: Checkpoint, model: torch.nn.Module, updater: Updater, config: TrainConfig,
            replicas: Replicas, device: torch.device, reset: bool) -> Snapshot:
    """This replica's training state in ``checkpoint``; ValueError when it does not fit the trainer."""
    state = checkpoint.state
    mine = json.loads(json.dumps(model_description(model)))
    if checkpoint.model_class != mine["model_class"]:
        raise ValueError(f"model: the run trained a {checkpoint.model_class}, this model is a {mine['model_class']}")
    changed = config_changes(checkpoint.config, mine["config"], field_defaults(getattr(model, "config", None)))
    if changed:
        raise ValueError(f"model: the configuration changed ({', '.join(changed)}); resume needs the run's model")
    check_shapes(checkpoint.weights, model.state_dict(), "the model")
    try:
        values = {f.name: state[f.name] for f in dataclasses.fields(RunState) if f.name != "best_monitored"}
        run = RunState.from_json({**values, **_watched_so_far(state, config)})
        saved_ranks = len(state["ranks"])
        own = state["ranks"][replicas.rank if saved_ranks == replicas.world_size else 0]
        rng, structure, train_config = own["rng"], own["carry"], state["train_config"]
        history = {name: list(values) for name, values in state["history"].items()}
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise ValueError(f"state.json: no complete training state (missing {err}); "
                         "was it written by a Trainer?") from None
    if saved_ranks != replicas.world_size and run.position != 0:
        raise ValueError(f"run_dir: the checkpoint was written mid-epoch by {saved_ranks} replicas; "
                         f"resume it with the same number of replicas, not {replicas.world_size}")
    updater.check(state, checkpoint.missing, reset)
    carry = None
    if structure is not None and "carry" in checkpoint.missing and not reset:
        raise ValueError(f"carry.safetensors: missing, but the run carried a state; {RESET_HINT} "
                         "and the carried state restarting from zero")
    if structure is not None and "carry" not in checkpoint.missing:
        prefix = f"{replicas.rank if saved_ranks == replicas.world_size else 0}."
        carried = {name[len(prefix):]: t for name, t in checkpoint.tensors("carry").items() if name.startswith(prefix)}
        if sorted(carried) != sorted(map(str, range(len(carried)))):
            raise ValueError(f"carry.safetensors: expected tensors {prefix}0 ... {prefix}N, got {sorted(carried)[:4]}")
        carry = to_device(unflatten(structure, [carried[str(i)] for i in range(len(carried))]), device)
    return Snapshot(run, history, carry, rng, checkpoint.path, config_changes(train_config, dataclasses.asdict(config)))


def _watched_so_far(state: dict, config: TrainConfig) -> dict:
    """``best_monitored`` and ``bad_validations`` to resume with: the run's, if early stopping watched the
    result ``config`` watches (runs saved before the choice existed watched the loss); else none yet."""
    if state["train_config"].get("early_stopping_metric", "loss") != config.early_stopping_metric:
        return {"best_monitored": math.inf, "bad_validations": 0}
    return {"best_monitored": state.get("best_monitored", state["best_val_loss"]),
            "bad_validations": state["bad_validations"]}


def _text_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)
