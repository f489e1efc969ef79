"""Checkpoints: safetensors + JSON round trip, atomic writes, no unpickling, exact resume after SIGKILL."""
import copy
import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.train import Callback, CheckpointWarning, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from rnnkit.train import checkpoint as checkpoint_module
from tiny_tasks import RESUME_CONFIG, StopAt, TinyLM, TinyLMConfig, lm_streams

HERE = Path(__file__).parent


def test_round_trip_rebuilds_the_model(tmp_path):
    model = TinyLM(TinyLMConfig(vocab=5, hidden=6))
    path = save_checkpoint(tmp_path, model, metadata={"vocabulary": ["a", "b", "<unk>"]}, state={"step": 7})
    loaded = load_checkpoint(tmp_path)
    assert loaded.path == path and path.name == "ckpt-000001"
    assert (loaded.model_class, loaded.config) == ("tiny_tasks.TinyLM", {"vocab": 5, "hidden": 6, "dropout": 0.0})
    assert (loaded.metadata, loaded.step) == ({"vocabulary": ["a", "b", "<unk>"]}, 7)
    rebuilt = TinyLM(TinyLMConfig(**loaded.config))
    rebuilt.load_state_dict(loaded.weights)
    for (name, a), b in zip(model.state_dict().items(), rebuilt.state_dict().values()):
        assert torch.equal(a, b), name
    assert load_checkpoint(path).path == path       # a checkpoint directory loads directly too


def test_tied_weights_are_saved_under_every_name(tmp_path):
    model = TinyLM(TinyLMConfig(vocab=6, hidden=6))
    model.out.weight = model.embed.weight            # (V, H) both
    save_checkpoint(tmp_path, model)
    rebuilt = TinyLM(TinyLMConfig(vocab=6, hidden=6))
    rebuilt.out.weight = rebuilt.embed.weight
    rebuilt.load_state_dict(load_checkpoint(tmp_path).weights)
    assert torch.equal(rebuilt.out.weight, model.embed.weight) and rebuilt.out.weight is rebuilt.embed.weight


def test_keeps_the_newest_checkpoints(tmp_path):
    model = TinyLM()
    for step in range(1, 5):
        save_checkpoint(tmp_path, model, state={"step": step}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["ckpt-000003", "ckpt-000004"]
    assert load_checkpoint(tmp_path).step == 4


def test_a_failed_write_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    model = TinyLM()
    save_checkpoint(tmp_path, model, state={"step": 1})
    real_write = checkpoint_module.write_durably
    calls = []

    def dies_on_second_file(path, data):
        calls.append(path)
        if len(calls) == 2:
            real_write(path, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, "write_durably", dies_on_second_file)
    with torch.no_grad():
        model.out.bias.add_(1.0)
    with pytest.raises(OSError, match=f"checkpoint: could not write {tmp_path}/checkpoints/ckpt-000002: No space") \
            as raised:
        save_checkpoint(tmp_path, model, state={"step": 2}, tensors={"optimizer": {"x": torch.ones(2)}})
    assert raised.value.errno == errno.ENOSPC
    loaded = load_checkpoint(tmp_path)
    assert loaded.step == 1 and not torch.equal(loaded.weights["out.bias"], model.out.bias)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["ckpt-000001"]    # the half-written one is gone
    monkeypatch.setattr(checkpoint_module, "write_durably", real_write)
    save_checkpoint(tmp_path, model, state={"step": 3})
    assert load_checkpoint(tmp_path).step == 3


def test_no_complete_checkpoint(tmp_path):
    (tmp_path / "checkpoints" / ".tmp-000001-1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="run_dir: no complete checkpoint"):
        load_checkpoint(tmp_path)


WRITER = """
import sys, torch
from rnnkit.train import save_checkpoint
model = torch.nn.Linear(64, 64)
step = 0
while True:
    step += 1
    with torch.no_grad():
        model.weight.fill_(step); model.bias.fill_(step)
    save_checkpoint(sys.argv[1], model, state={"step": step}, tensors={"optimizer": {"m": torch.full((4096,), step)}})
"""


def test_sigkill_while_writing_never_leaves_a_broken_checkpoint(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    try:
        wait_for(lambda: len(list((tmp_path / "checkpoints").glob("ckpt-*"))) >= 3, writer)
    finally:
        writer.send_signal(signal.SIGKILL)          # mid-write: the writer never pauses between checkpoints
        writer.wait()
    loaded = load_checkpoint(tmp_path)
    assert loaded.step >= 3
    assert torch.equal(loaded.weights["weight"], torch.full((64, 64), float(loaded.step)))
    assert torch.equal(loaded.tensors("optimizer")["m"], torch.full((4096,), loaded.step))


def wait_for(condition, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the subprocess exited with {process.returncode} before the condition held")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


class Losses(Callback):
    """Every batch's loss by (epoch, batch index)."""

    def __init__(self):
        self.by_batch = {}

    def on_train_batch_end(self, trainer, logs):
        self.by_batch[trainer.epoch, logs["batch"]] = logs["loss"]


def train(run_dir, config, resume=False, callbacks=(), seed=0, streams=None):
    torch.manual_seed(seed)                        # a resumed run's fresh init is overwritten by the checkpoint
    losses = Losses()
    train_data, val = streams or lm_streams(n=1200)
    trainer = Trainer(TinyLM(TinyLMConfig(dropout=0.2)), config, run_dir=run_dir, callbacks=[losses, *callbacks])
    history = trainer.fit(train_data, val, resume=resume)
    return trainer, losses.by_batch, history


def assert_same_run(resumed, reference):
    (trainer, losses, history), (ref_trainer, ref_losses, ref_history) = resumed, reference
    assert trainer.step == ref_trainer.step and trainer.epoch == ref_trainer.epoch
    assert losses and all(abs(loss - ref_losses[key]) <= 1e-6 for key, loss in losses.items())
    for (name, p), q in zip(trainer.model.named_parameters(), ref_trainer.model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
    assert history.history["val_loss"] == pytest.approx(ref_history.history["val_loss"], abs=1e-6)


@pytest.mark.parametrize("stop, config", [
    (10, dict(accumulate=2, eval_every=3, checkpoint_every=5, schedule="step", step_size=4, log_every=2)),  # mid-epoch
    (12, dict(checkpoint_every=None, schedule="plateau", plateau_patience=0)),          # epoch ends, validations
])
def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path, stop, config):
    config = TrainConfig(lr=5e-3, epochs=2, progress=False, **config)
    reference = train(tmp_path / "reference", config)
    first, first_losses, _ = train(tmp_path / "run", config, callbacks=[StopAt(stop)])
    assert first.step == stop
    resumed = train(tmp_path / "run", config, resume=True, seed=1)
    assert len(first_losses) + len(resumed[1]) == len(reference[1])     # no batch twice, none skipped
    assert_same_run(resumed, reference)
    assert first_losses == {key: reference[1][key] for key in first_losses}


def test_sigkill_in_a_checkpoint_write_then_damage_then_resume_reproduces_the_uninterrupted_losses(tmp_path,
                                                                                                  monkeypatch):
    """Killed halfway through writing its third checkpoint; then the newest complete checkpoint is damaged:
    resume warns, falls back to the older one, and ends exactly where the uninterrupted run ends."""
    run_dir, losses_file = tmp_path / "run", tmp_path / "losses.txt"
    process = subprocess.Popen([sys.executable, str(HERE / "resume_script.py"), str(run_dir), str(losses_file)],
                               env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])})
    try:
        wait_for(lambda: (run_dir / "writing").exists(), process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    (run_dir / "writing").unlink()
    checkpoints = run_dir / "checkpoints"
    assert [p.name for p in sorted(checkpoints.iterdir())] == [f".tmp-000003-{process.pid}", "ckpt-000001",
                                                               "ckpt-000002"]
    model_file = checkpoints / "ckpt-000002" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    older_step = load_checkpoint(checkpoints / "ckpt-000001").step

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickling during resume")

    with monkeypatch.context() as patch:
        for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
            patch.setattr(module, name, no_unpickling)
        with pytest.warns(CheckpointWarning, match="ckpt-000002 is unusable \\(model.safetensors: .*truncated"):
            resumed = train(run_dir, RESUME_CONFIG, resume=True, seed=1)
    reference = train(tmp_path / "reference", RESUME_CONFIG)
    assert older_step == 8 and resumed[0].step == 72 and len(resumed[1]) == 72 - older_step   # one batch per step
    assert_same_run(resumed, reference)
    killed = [float(line.split()[1]) for line in losses_file.read_text().splitlines()]
    assert len(killed) == 24 and killed == pytest.approx(list(reference[1].values())[:24], abs=1e-6)
    rows = (run_dir / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows if r.split(",")[2]] == list(range(1, 73))   # no duplicated rows
    assert not list(checkpoints.glob(".tmp-*"))                  # the killed writer's leftovers are cleaned up


def test_resume_checks_the_model(tmp_path):
    torch.manual_seed(0)
    train_data, _ = lm_streams(n=300)
    Trainer(TinyLM(), TrainConfig(progress=False), run_dir=tmp_path).fit(train_data)
    with pytest.raises(ValueError, match=r"model: the configuration changed \(hidden 12 -> 8\)"):
        Trainer(TinyLM(TinyLMConfig(hidden=8)), TrainConfig(progress=False), run_dir=tmp_path).fit(
            train_data, resume=True)


def test_state_json_is_plain_json(tmp_path):
    torch.manual_seed(0)
    train_data, val = lm_streams(n=300)
    Trainer(TinyLM(), TrainConfig(progress=False), run_dir=tmp_path, metadata={"corpus": "pattern"}).fit(
        train_data, val)
    state = json.loads((load_checkpoint(tmp_path).path / "state.json").read_text())
    assert state["metadata"] == {"corpus": "pattern"} and state["train_config"]["lr"] == 2e-3
    assert isinstance(state["ranks"][0]["rng"]["torch"], list) and state["history"]["val_loss"]
    assert copy.deepcopy(state) == json.loads(json.dumps(state))
