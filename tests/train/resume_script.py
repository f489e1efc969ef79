"""Run by test_checkpoint.py in a subprocess: a tiny training that the test kills with SIGKILL.

Usage: resume_script.py RUN_DIR LOSSES_FILE. Appends "step loss" lines to LOSSES_FILE as it goes. Once two
checkpoints exist, the next checkpoint write stops halfway through its first file, touches
RUN_DIR/writing and waits there to be killed.
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_tasks import RESUME_CONFIG, TinyLM, TinyLMConfig, lm_streams  # noqa: E402

from rnnkit.train import Callback, Trainer  # noqa: E402
from rnnkit.train import checkpoint as checkpoint_module  # noqa: E402


class Append(Callback):
    def __init__(self, path):
        self.handle = open(path, "a")

    def on_train_batch_end(self, trainer, logs):
        self.handle.write(f"{logs['step']} {logs['loss']!r}\n")
        self.handle.flush()


def hang_in_the_third_checkpoint(write):
    def writing(path, data):
        if len(list(path.parent.parent.glob("ckpt-*"))) >= 2:
            write(path, data[: len(data) // 2])
            (path.parent.parent.parent / "writing").touch()
            time.sleep(600)
        write(path, data)

    return writing


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    checkpoint_module.write_durably = hang_in_the_third_checkpoint(checkpoint_module.write_durably)
    train, val = lm_streams(n=1200)
    Trainer(TinyLM(TinyLMConfig(dropout=0.2)), RESUME_CONFIG, run_dir=sys.argv[1],
            callbacks=[Append(sys.argv[2])]).fit(train, val)
