"""Two CPU replicas under torch.distributed.run train exactly like one process on the full batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from rnnkit.train import TrainConfig, Trainer
from tiny_tasks import Regression, TinyLM, lm_streams, regression_batches

HERE = Path(__file__).parent


def test_two_replicas_equal_one_process_on_the_full_batch(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(HERE / "ddp_script.py"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    histories = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name          # DDP keeps the replicas identical
    assert histories[0] == histories[1]                                   # logged means are pooled

    # One process: the regression sees each pair of strided batches as one batch (equal rows: mean of means);
    # the language model sees all 4 stream rows that the replicas split 2 + 2.
    torch.manual_seed(0)
    pairs = [tuple(torch.cat(parts) for parts in zip(*regression_batches(8)[i:i + 2])) for i in (0, 2, 4, 6)]
    single = Trainer(Regression(), TrainConfig(optimizer="sgd", lr=0.1, epochs=2, progress=False))
    expected = {"regression": single.fit(pairs).history}
    params = {f"regression.{k}": v for k, v in single.model.state_dict().items()}
    torch.manual_seed(0)
    train, val = lm_streams(batch_size=4, seq_len=8, n=600)
    single = Trainer(TinyLM(), TrainConfig(lr=1e-2, epochs=1, progress=False, eval_every=5))
    expected["lm"] = single.fit(train, val).history
    params.update({f"lm.{k}": v for k, v in single.model.state_dict().items()})
    for name, value in params.items():
        torch.testing.assert_close(ranks[0][name], value, rtol=0, atol=1e-5, msg=name)
    for task in ("regression", "lm"):
        for key in ("loss", "val_loss"):
            if key in expected[task]:
                assert abs(histories[0][task][key][-1] - expected[task][key][-1]) < 1e-5, (task, key)

    # Only rank 0 wrote: one log, checkpoints that resume into one process.
    run = tmp_path / "run_lm"
    assert (run / "log.csv").exists() and (run / "loss.png").exists()
    state = json.loads(next(run.glob("checkpoints/ckpt-*/state.json")).read_text())
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
