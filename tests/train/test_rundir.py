"""Run directories: one owner at a time (flock naming the owner), and only rnnkit's own files deleted."""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from rnnkit.train import RunDir, RunDirError, TrainConfig, Trainer, load_checkpoint
from rnnkit.train.rundir import LOCK, MARKER
from tiny_tasks import Regression, regression_batches

QUIET = TrainConfig(progress=False)

HOLDER = """
import sys, time
from rnnkit.train import RunDir
run = RunDir.open(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


def fit(run_dir, **kwargs):
    trainer = Trainer(Regression(), QUIET, run_dir=run_dir, **kwargs)
    trainer.fit(regression_batches(2))
    return trainer


def test_a_second_process_is_refused_and_a_killed_owners_lock_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"run_dir: {tmp_path} is in use by process {holder.pid} on "):
            RunDir.open(tmp_path, resume=True)
        with pytest.raises(RunDirError, match=f"in use by process {holder.pid}"):
            fit(tmp_path, overwrite=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunDir.open(tmp_path, resume=True) as run:                         # the dead owner's lock is free
        assert json.loads((run.path / LOCK).read_text())["pid"] == os.getpid()


def locked(path):
    """Whether another open file description could not take the run directory's flock."""
    with open(path / LOCK) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("owner, taken", [(dead_pid, True), (os.getppid, False)])
def test_a_lock_held_after_its_owner_died_is_taken_over(tmp_path, owner, taken):
    """A forked child can keep the flock after its parent died: the lock file names a dead pid."""
    pid = owner()
    with open(tmp_path / LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        json.dump({"pid": pid, "host": socket.gethostname(), "started": "earlier"}, handle)
        handle.flush()
        if taken:
            with RunDir.open(tmp_path):
                assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
        else:
            with pytest.raises(RunDirError, match=f"in use by process {pid} on .* \\(since earlier\\)"):
                RunDir.open(tmp_path)


def test_opening_again_in_the_same_process_shares_the_directory(tmp_path):
    first = RunDir.open(tmp_path / "run")
    (first.path / "vocab.json").write_text("{}")
    second = RunDir.open(tmp_path / "run")              # e.g. the CLI holds it, the Trainer opens the path
    assert second is first
    second.close()
    assert locked(first.path)                           # still held until the first opener closes it
    first.close()
    assert not locked(first.path)
    first.close()                                       # closing a closed RunDir does nothing


def test_a_fresh_run_refuses_a_directory_with_files(tmp_path):
    fit(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"already holds checkpoints, events.log, log.csv, loss.png, notes.txt.*"
                                          r"--overwrite .*--resume"):
        fit(tmp_path)
    with pytest.raises(RunDirError, match="already holds"):
        RunDir.open(tmp_path)
    with pytest.raises(ValueError, match="overwrite: a fresh run replaces the directory, resume continues it"):
        RunDir.open(tmp_path, resume=True, overwrite=True)


def test_overwrite_deletes_only_what_rnnkit_recorded(tmp_path):
    fit(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "checkpoints" / "README").write_text("mine too")
    foreign = tmp_path / "checkpoints" / "ckpt-000099"          # another program's directory of that name
    foreign.mkdir()
    (foreign / "state.json").write_text('{"format": "not rnnkit"}')
    trainer = fit(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "checkpoints" / "README").exists()
    assert (foreign / "state.json").exists()
    assert load_checkpoint(tmp_path).step == trainer.step == 2
    assert sorted(json.loads((tmp_path / MARKER).read_text())["entries"]) == \
        ["checkpoints", "events.log", "log.csv", "loss.png", "tensorboard"]


def test_a_directory_without_the_marker_is_never_emptied(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "log.csv").write_text("step\n")
    with pytest.raises(RunDirError, match=f"holds checkpoints, log.csv but no {MARKER}.* will not delete them"):
        fit(tmp_path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == [LOCK, "checkpoints", "log.csv"]


def test_record_takes_names_of_top_level_entries(tmp_path):
    with RunDir.open(tmp_path) as run:
        run.record("best", "scores.json", "best")
        assert run.entries == ("best", "scores.json")
        for bad in ("a/b", "..", "", MARKER):
            with pytest.raises(ValueError, match="names: expected names of entries directly in the run directory"):
                run.record(bad)
        (tmp_path / "best").mkdir()
        run.remove()
        assert not (tmp_path / "best").exists() and run.entries == ()


def test_a_second_fit_of_one_trainer_replaces_its_own_run(tmp_path):
    trainer = Trainer(Regression(), TrainConfig(epochs=2, progress=False), run_dir=tmp_path)
    trainer.fit(regression_batches(3))
    (tmp_path / "notes.txt").write_text("mine")
    trainer.fit(regression_batches(2))                  # Keras-like: a new run, its own old files replaced
    assert load_checkpoint(tmp_path).step == 4 and (tmp_path / "notes.txt").exists()
    assert [line.split(",")[0] for line in (tmp_path / "log.csv").read_text().splitlines()[1:]] == ["1", "2", "3", "4"]


def test_the_trainer_uses_an_open_run_dir_as_it_is(tmp_path):
    with RunDir.open(tmp_path / "run") as run:
        run.record("vocab.json")
        (run.path / "vocab.json").write_text("{}")
        trainer = fit(run)
        assert trainer.run_dir == run.path and run.entries[0] == "vocab.json" and "checkpoints" in run.entries
        assert locked(run.path)                         # still held after fit: the caller closes it
    assert not locked(run.path)
