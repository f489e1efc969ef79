"""The trainer's resumable state and how it goes into a checkpoint and comes back.

A checkpoint written by the trainer holds, besides the weights: the optimizer (tensors in
``optimizer.safetensors``, numbers in ``state.json``), the schedule and GradScaler numbers, the
:class:`RunState` counters and running means, the history, and per replica its RNG states and the
recurrent state carried into the next batch (``carry.safetensors``). Every replica sends its part
to rank 0, which writes the checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import has_checkpoint, load_checkpoint, model_description, save_checkpoint
from .config import TrainConfig
from .distributed import Replicas
from .metrics import Meter
from .optim import LRSchedule, load_optimizer_state, optimizer_state
from .rng import get_rng_state
from .tree import flatten, to_device, unflatten


@dataclass
class RunState:
    """Where a run stands.

    Attributes:
        step: optimizer steps done.  epoch: epochs done.
        position: batches of the current epoch consumed at the last optimizer step.
        elapsed: seconds of training before the current ``fit`` call.
        best_val_loss / bad_validations: the best validation loss and the validations since it.
        epoch_meter / interval_meter: running means of the epoch and of the current log interval.
        last_validation: the epoch's latest validation results as ``val_<name>``.
    """

    step: int = 0
    epoch: int = 0
    position: int = 0
    elapsed: float = 0.0
    best_val_loss: float = math.inf
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
    """What :func:`load_snapshot` hands back to the trainer (the model and optimizer are loaded in place)."""

    run: RunState
    history: dict[str, list]
    carry: Any
    rng: dict


def save_snapshot(run_dir: Path, replicas: Replicas, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  schedule: LRSchedule, scaler: Any, run: RunState, history: dict, carry: Any,
                  config: TrainConfig, metadata: dict) -> None:
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
    optimizer_tensors, optimizer_rest = optimizer_state(optimizer)
    state = {"train_config": dataclasses.asdict(config), **run.to_json(), "schedule": schedule.state_dict(),
             "optimizer": optimizer_rest, "scaler": scaler.state_dict() if scaler is not None else None,
             "history": history, "world_size": replicas.world_size, "ranks": ranks}
    tensors = {"optimizer": optimizer_tensors, **({"carry": carry_file} if carry_file else {})}
    save_checkpoint(run_dir, model, metadata=metadata, state=state, tensors=tensors)


def load_snapshot(run_dir: Path, replicas: Replicas, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  schedule: LRSchedule, scaler: Any, device: torch.device) -> Snapshot | None:
    """Loads the newest checkpoint of ``run_dir`` into the model, optimizer, schedule and scaler.

    Returns:
        The rest of the state for this replica, or None if ``run_dir`` has no checkpoint.
    Raises:
        ValueError: the checkpoint belongs to another model class or config, or was written mid-epoch
            by a different number of replicas.
    """
    if not has_checkpoint(run_dir):
        return None
    checkpoint = load_checkpoint(run_dir)
    mine = json.loads(json.dumps(model_description(model)))
    if (checkpoint.model_class, checkpoint.config) != (mine["model_class"], mine["config"]):
        raise ValueError(f"run_dir: {checkpoint.path} holds a {checkpoint.model_class} with config "
                         f"{checkpoint.config}, but the model is a {mine['model_class']} with config {mine['config']}")
    state = checkpoint.state
    run = RunState.from_json({f.name: state[f.name] for f in dataclasses.fields(RunState)})
    saved_ranks, rank = len(state["ranks"]), replicas.rank
    if saved_ranks != replicas.world_size and run.position != 0:
        raise ValueError(f"run_dir: the checkpoint was written mid-epoch by {saved_ranks} replicas; "
                         f"resume it with the same number of replicas, not {replicas.world_size}")
    model.load_state_dict(checkpoint.weights)
    load_optimizer_state(optimizer, checkpoint.tensors("optimizer"), state["optimizer"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    schedule.load_state_dict(state["schedule"])
    own = state["ranks"][rank if saved_ranks == replicas.world_size else 0]
    carried = {name.split(".", 1)[1]: tensor for name, tensor in checkpoint.tensors("carry").items()
               if name.split(".", 1)[0] == str(rank)}
    carry = to_device(unflatten(own["carry"], [carried[str(i)] for i in range(len(carried))]), device)
    return Snapshot(run, {name: list(values) for name, values in state["history"].items()}, carry, own["rng"])


def _text_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)
