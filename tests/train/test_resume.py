"""Resume refuses what it cannot continue exactly (unless told), reports what changed, and imports nothing."""
import dataclasses
import json
import sys

import pytest
import torch

from rnnkit import LSTMState
from rnnkit.train import CheckpointWarning, TrainConfig, Trainer, register_state_type
from rnnkit.train.integrity import state_bytes
from rnnkit.train.tree import flatten, unflatten
from tiny_tasks import StopAt, TinyLM, TinyLMConfig, lm_streams

CONFIG = TrainConfig(lr=5e-3, epochs=2, checkpoint_every=3, log_every=1, progress=False)


def stopped_run(run_dir, stop=7):
    """A run stopped at ``stop`` with checkpoints at steps 6 and 7 (streams: a carried state)."""
    torch.manual_seed(0)
    train_data, _ = lm_streams(n=300)
    Trainer(TinyLM(), CONFIG, run_dir=run_dir, callbacks=[StopAt(stop)]).fit(train_data)
    return sorted((run_dir / "checkpoints").glob("ckpt-*"))


def resume(run_dir, config=CONFIG, **kwargs):
    torch.manual_seed(1)
    train_data, _ = lm_streams(n=300)
    trainer = Trainer(TinyLM(), config, run_dir=run_dir)
    trainer.fit(train_data, resume=True, **kwargs)
    return trainer


def rewrite_state(checkpoint_dir, change):
    """Edits state.json and redoes its digest (as a tool, or an attacker, could)."""
    state = json.loads((checkpoint_dir / "state.json").read_bytes())
    del state["digest"]
    change(state)
    (checkpoint_dir / "state.json").write_bytes(state_bytes(state))


@pytest.mark.parametrize("name", ["optimizer", "carry"])
def test_a_missing_optimizer_or_carry_is_refused_unless_reset_optimizer(tmp_path, name):
    for checkpoint in stopped_run(tmp_path):
        (checkpoint / f"{name}.safetensors").unlink()
    message = f"{name}.safetensors: missing.*pass reset_optimizer=True \\(--reset-optimizer\\)"
    with pytest.raises(ValueError, match=f"run_dir: no usable checkpoint in {tmp_path}: ckpt-000003, ckpt-000002: "
                                         + message):
        resume(tmp_path)
    assert resume(tmp_path, reset_optimizer=True).epoch == 2
    events = (tmp_path / "events.log").read_text()
    assert "resumed from " in events and "ckpt-000003 at step 7, epoch 1 with a fresh optimizer (reset_optimizer)" \
        in events


def test_a_missing_optimizer_in_the_newest_checkpoint_falls_back(tmp_path):
    older, newest = stopped_run(tmp_path)
    (newest / "optimizer.safetensors").unlink()
    with pytest.warns(CheckpointWarning, match=f"{newest} is unusable \\(optimizer.safetensors: missing"):
        resume(tmp_path)
    assert f"resumed from {older} at step 6" in (tmp_path / "events.log").read_text()


def test_a_changed_model_configuration_is_refused_naming_the_fields(tmp_path):
    stopped_run(tmp_path)
    torch.manual_seed(1)
    train_data, _ = lm_streams(n=300)
    trainer = Trainer(TinyLM(TinyLMConfig(hidden=8, dropout=0.1)), CONFIG, run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"model: the configuration changed \(hidden 12 -> 8, dropout 0.0 -> 0.1\)"):
        trainer.fit(train_data, resume=True)


def test_a_config_saved_before_a_field_existed_resumes_with_its_default(tmp_path):
    for checkpoint in stopped_run(tmp_path):
        rewrite_state(checkpoint, lambda state: state["config"].pop("dropout"))   # TinyLMConfig.dropout = 0.0
    with pytest.raises(ValueError, match=r"configuration changed \(dropout 0.0 -> 0.1\)"):
        Trainer(TinyLM(TinyLMConfig(dropout=0.1)), CONFIG, run_dir=tmp_path).fit(lm_streams(n=300)[0], resume=True)
    assert resume(tmp_path).step > 7


def test_a_run_state_saved_before_early_stopping_watched_a_metric_resumes_watching_the_loss(tmp_path):
    """A checkpoint without ``best_monitored`` (written before early stopping could watch the accuracy)
    carries on from its best loss: a validation loss above it counts against the patience."""
    torch.manual_seed(0)
    train_data, val_data = lm_streams(n=300)
    config = TrainConfig(lr=5e-3, epochs=3, eval_every=3, early_stopping_patience=1, progress=False)
    Trainer(TinyLM(), config, run_dir=tmp_path, callbacks=[StopAt(7)]).fit(train_data, val_data)
    def saved_before_best_monitored(state):
        state["best_val_loss"] = -1.0                               # a best no validation can beat
        del state["best_monitored"]

    for checkpoint in sorted((tmp_path / "checkpoints").glob("ckpt-*")):
        rewrite_state(checkpoint, saved_before_best_monitored)
    trainer = Trainer(TinyLM(), config, run_dir=tmp_path)
    trainer.fit(lm_streams(n=300)[0], val_data, resume=True)
    assert trainer.step == 9 and "early_stopping" in (tmp_path / "events.log").read_text()


def test_resuming_to_watch_another_metric_starts_its_patience_afresh(tmp_path):
    """A run whose early stopping watched the loss, resumed watching the accuracy: the loss's best (here
    one no validation can beat) says nothing about the accuracy, so the first validation sets the best."""
    torch.manual_seed(0)
    train_data, val_data = lm_streams(n=300)
    config = TrainConfig(lr=5e-3, epochs=3, eval_every=3, early_stopping_patience=1, progress=False)
    Trainer(TinyLM(), config, run_dir=tmp_path, callbacks=[StopAt(7)]).fit(train_data, val_data)
    for checkpoint in sorted((tmp_path / "checkpoints").glob("ckpt-*")):
        rewrite_state(checkpoint, lambda state: state.update(best_val_loss=-1.0, best_monitored=-1.0,
                                                             bad_validations=0))
    trainer = Trainer(TinyLM(), dataclasses.replace(config, early_stopping_metric="accuracy"), run_dir=tmp_path)
    trainer.fit(lm_streams(n=300)[0], val_data, resume=True)
    assert trainer.step > 9
    assert "early_stopping_metric 'loss' -> 'accuracy'" in (tmp_path / "events.log").read_text()


def test_changed_training_settings_are_accepted_and_logged(tmp_path):
    stopped_run(tmp_path)
    changed = TrainConfig(lr=1e-3, epochs=2, checkpoint_every=3, log_every=1, progress=False, weight_decay=0.01)
    trainer = resume(tmp_path, changed)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3 and trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
    assert "training settings changed since the checkpoint: lr 0.005 -> 0.001, weight_decay 0.0 -> 0.01" in \
        (tmp_path / "events.log").read_text()


def test_another_optimizer_class_needs_reset_optimizer(tmp_path):
    stopped_run(tmp_path)
    with pytest.raises(ValueError, match="optimizer: the run used torch.optim.adam.Adam, this trainer has "
                                         "torch.optim.sgd.SGD; pass reset_optimizer=True"):
        resume(tmp_path, TrainConfig(optimizer="sgd", epochs=2, progress=False))
    assert resume(tmp_path, TrainConfig(optimizer="sgd", epochs=2, progress=False), reset_optimizer=True).epoch == 2


# A module in the working directory whose import would leave a trace.
CANARY = "import pathlib\npathlib.Path(__file__).with_name('imported').touch()\nclass State(tuple): _fields = ()\n"


@pytest.mark.parametrize("target", ["os:system", "canary_state:State", "rnnkit.cells.lstm:LSTMCell"])
def test_a_crafted_state_type_is_refused_and_nothing_is_imported(tmp_path, monkeypatch, target):
    (tmp_path / "canary_state.py").write_text(CANARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    checkpoints = stopped_run(run_dir)

    def crafted(state):
        state["ranks"][0]["carry"] = {"namedtuple": target, "items": [{"tensor": 0}, {"tensor": 1}]}

    for checkpoint in checkpoints:
        rewrite_state(checkpoint, crafted)
    with pytest.raises(ValueError, match=f"state: '{target}' is not a registered state type"):
        resume(run_dir)
    assert not (tmp_path / "imported").exists() and "canary_state" not in sys.modules


def test_state_types_come_from_the_registry():
    state = [LSTMState(torch.ones(1, 2), torch.zeros(1, 2)), {"h": torch.ones(3)}]
    structure, tensors = flatten(state)
    assert structure["list"][0]["namedtuple"] == "rnnkit.cells.lstm:LSTMState"
    assert type(unflatten(structure, tensors)[0]) is LSTMState

    from typing import NamedTuple

    class PeepholeState(NamedTuple):
        h: torch.Tensor

    with pytest.raises(ValueError, match="state: .*PeepholeState is not a registered state type; call "
                                         "rnnkit.train.register_state_type\\(PeepholeState\\)"):
        flatten(PeepholeState(torch.ones(1)))
    register_state_type(PeepholeState)
    structure, tensors = flatten(PeepholeState(torch.ones(1)))
    assert type(unflatten(structure, tensors)) is PeepholeState
    for bad in ({"tensor": 5}, {"namedtuple": 3, "items": []}, {"tuple": "x"}, ["list"]):
        with pytest.raises(ValueError, match="state: "):
            unflatten(bad, tensors)
