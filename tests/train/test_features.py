"""Trainer features: compiled models, optimizer / scheduler objects, logs of every run, bad values, disk errors."""
import copy
import csv
import errno
import os
from pathlib import Path

import pytest
import torch

from rnnkit.train import Callback, TrainConfig, Trainer, load_checkpoint
from rnnkit.train import checkpoint as checkpoint_module
from tiny_tasks import Regression, StopAt, regression_batches

QUIET = {"progress": False}


class LearningRates(Callback):
    def __init__(self):
        self.values = []

    def on_train_batch_end(self, trainer, logs):
        self.values.append(logs["lr"])


def assert_same_parameters(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7, msg=name)


# ---------------------------------------------------------------------------------- torch.compile
def test_a_compiled_model_trains_compiled_and_saves_clean_keys(tmp_path):
    graphs = []

    def backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    torch.manual_seed(0)
    model = Regression()
    eager = Trainer(copy.deepcopy(model), TrainConfig(**QUIET))
    eager.fit(regression_batches(3))
    trainer = Trainer(torch.compile(model, backend=backend), TrainConfig(**QUIET), run_dir=tmp_path)
    trainer.fit(regression_batches(3))
    assert graphs and trainer.model is model                      # the loss ran through the user's backend
    assert sorted(load_checkpoint(tmp_path).weights) == ["linear.bias", "linear.weight"]
    assert_same_parameters(trainer.model, eager.model)


def test_config_compile_compiles_the_loss(monkeypatch):
    compiled = []
    real_compile = torch.compile

    def compile_eagerly(module, **kwargs):
        compiled.append(type(module).__name__)
        return real_compile(module, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    Trainer(Regression(), TrainConfig(compile=True, **QUIET)).fit(regression_batches(2))
    assert compiled == ["LossModule"]


# ---------------------------------------------------------------------------------- optimizer objects
def train_with_objects(run_dir, stop=None, resume=False, plateau=False):
    torch.manual_seed(0)
    model = Regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5) if plateau else \
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    rates = LearningRates()
    trainer = Trainer(model, TrainConfig(epochs=3, checkpoint_every=2, eval_every=2, **QUIET), run_dir=run_dir,
                      optimizer=optimizer, scheduler=scheduler, callbacks=[rates, *([StopAt(stop)] if stop else [])])
    trainer.fit(regression_batches(4), val_data=regression_batches(2, seed=1), resume=resume)
    return trainer, rates.values


@pytest.mark.parametrize("plateau", [False, True])
def test_optimizer_and_scheduler_objects_are_checkpointed_and_resumed_exactly(tmp_path, plateau):
    reference, rates = train_with_objects(tmp_path / "reference", plateau=plateau)
    if not plateau:
        assert rates == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 3 + [0.0125] * 3)
    stopped, first = train_with_objects(tmp_path / "run", stop=5, plateau=plateau)
    resumed, rest = train_with_objects(tmp_path / "run", resume=True, plateau=plateau)
    assert resumed.step == 12 and first + rest == pytest.approx(rates)         # resumed from the stop, step 5
    assert_same_parameters(resumed.model, reference.model)
    assert resumed.optimizer.state_dict()["param_groups"][0]["lr"] == reference.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("kwargs, message", [
    (lambda m: {"scheduler": torch.optim.lr_scheduler.StepLR(torch.optim.SGD(m.parameters(), lr=1), 1)},
     "scheduler: expected a scheduler of the optimizer passed as optimizer="),
    (lambda m: {"optimizer": torch.optim.SGD(Regression().parameters(), lr=1)},
     "optimizer: expected an optimizer over the model's parameters"),
    (lambda m: {"optimizer": "sgd"}, "optimizer: expected a torch.optim.Optimizer or None, got str"),
])
def test_bad_optimizer_objects(kwargs, message):
    model = Regression()
    with pytest.raises(ValueError, match=message):
        Trainer(model, TrainConfig(**QUIET), **kwargs(model))
    with pytest.raises(ValueError, match="schedule: an optimizer object keeps its own learning rate"):
        Trainer(model, TrainConfig(schedule="cosine", **QUIET), optimizer=torch.optim.SGD(model.parameters(), lr=1))


# ---------------------------------------------------------------------------------- logs
def rows(run_dir):
    with open(run_dir / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_log_every_is_scaled_to_the_run(tmp_path):
    Trainer(Regression(), TrainConfig(**QUIET), run_dir=tmp_path / "long").fit(regression_batches(200, rows=1))
    assert [int(r["step"]) for r in rows(tmp_path / "long") if r["loss"]] == list(range(4, 201, 4))   # 50 rows
    Trainer(Regression(), TrainConfig(epochs=3, **QUIET), run_dir=tmp_path / "short").fit(regression_batches(2))
    assert [int(r["step"]) for r in rows(tmp_path / "short") if r["loss"]] == [1, 2, 3, 4, 5, 6]


def test_every_epoch_ends_with_a_row_of_its_training_loss(tmp_path):
    trainer = Trainer(Regression(), TrainConfig(epochs=3, log_every=100, **QUIET), run_dir=tmp_path)
    history = trainer.fit(regression_batches(4)).history
    logged = [(int(r["step"]), float(r["loss"])) for r in rows(tmp_path) if r["loss"]]
    assert [step for step, _ in logged] == [4, 8, 12]
    assert [loss for _, loss in logged] == pytest.approx(history["loss"])
    assert (tmp_path / "loss.png").stat().st_size > 1000


# ---------------------------------------------------------------------------------- bad values, disk errors
@pytest.mark.parametrize("kwargs, message", [
    ({"max_time": float("nan")}, "max_time: expected a positive number, got nan"),
    ({"max_time": float("inf")}, "max_time: expected a finite number, got inf"),
    ({"lr": float("nan")}, "lr: expected a positive number, got nan"),
    ({"weight_decay": float("inf")}, "weight_decay: expected a finite number, got inf"),
    ({"clip_norm": float("nan")}, "clip_norm: expected a positive number, got nan"),
    ({"seed": 2**70}, "seed: expected an integer from 0 to 18446744073709551615, got 1180591620717411303424"),
    ({"seed": -1}, "seed: expected an integer from 0 to"),
    ({"log_every": 0}, "log_every: expected an integer >= 1, got 0"),
    ({"compile": "yes"}, "compile: expected True or False, got 'yes'"),
])
def test_config_numbers_must_be_finite_and_in_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)
    assert TrainConfig(clip_norm=float("inf"), seed=2**64 - 1).clip_norm == float("inf")   # inf: measure, no clip


def test_a_failed_checkpoint_write_names_the_path_and_keeps_the_older_ones(tmp_path, monkeypatch):
    real_write, calls = checkpoint_module.write_durably, []

    def disk_full_after_one_checkpoint(path, data):
        calls.append(path)
        if len(calls) > 3:                      # model, optimizer, state.json of the first checkpoint
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, "write_durably", disk_full_after_one_checkpoint)
    trainer = Trainer(Regression(), TrainConfig(checkpoint_every=2, epochs=2, **QUIET), run_dir=tmp_path)
    with pytest.raises(OSError, match=f"checkpoint: could not write {tmp_path}/checkpoints/ckpt-000002: No space"):
        trainer.fit(regression_batches(3))
    assert load_checkpoint(tmp_path).step == 2 and len(list((tmp_path / "checkpoints").iterdir())) == 1


class DiskFull(Callback):
    """From step 2 on, log.csv's rows go to /dev/full (every write fails with ENOSPC)."""

    def on_train_batch_end(self, trainer, logs):
        if trainer.step == 2:
            trainer._log._csv.close()
            trainer._log._csv = open("/dev/full", "a")


def open_files_under(path) -> list[str]:
    """The files under ``path`` this process holds open (Linux: /proc/self/fd)."""
    links = (os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink())
    return [link for link in links if link.startswith((str(path), "/dev/full"))]


def test_a_failed_log_write_names_the_path_and_leaves_no_file_open(tmp_path):
    trainer = Trainer(Regression(), TrainConfig(log_every=1, **QUIET), run_dir=tmp_path, callbacks=[DiskFull()])
    with pytest.raises(OSError, match=f"run_dir: could not write {tmp_path}/log.csv: No space left on device") as e:
        trainer.fit(regression_batches(4))
    assert e.value.errno == errno.ENOSPC
    if Path("/proc/self/fd").is_dir():
        assert open_files_under(tmp_path) == []
