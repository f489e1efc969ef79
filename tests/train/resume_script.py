"""Run by test_checkpoint.py in a subprocess: a tiny training that the test kills with SIGKILL.

Usage: resume_script.py RUN_DIR LOSSES_FILE. Appends "step loss" lines to LOSSES_FILE as it goes.
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_tasks import RESUME_CONFIG, TinyLM, TinyLMConfig, lm_streams  # noqa: E402

from rnnkit.train import Callback, Trainer  # noqa: E402


class Append(Callback):
    def __init__(self, path):
        self.handle = open(path, "a")

    def on_train_batch_end(self, trainer, logs):
        self.handle.write(f"{logs['step']} {logs['loss']!r}\n")
        self.handle.flush()
        time.sleep(0.02)


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, val = lm_streams(n=1200)
    Trainer(TinyLM(TinyLMConfig(dropout=0.2)), RESUME_CONFIG, run_dir=sys.argv[1],
            callbacks=[Append(sys.argv[2])]).fit(train, val)
