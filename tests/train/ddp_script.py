"""Run by test_distributed.py under ``torch.distributed.run --nproc_per_node=2``.

Trains two tiny models (strided list batches; row-sharded streams) and writes each rank's final
parameters and history to OUT_DIR/rank{r}.safetensors / rank{r}.json.
"""
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from tiny_tasks import Regression, TinyLM, lm_streams, regression_batches  # noqa: E402

from rnnkit.train import TrainConfig, Trainer  # noqa: E402


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    params, histories = {}, {}
    torch.manual_seed(0)
    trainer = Trainer(Regression(), TrainConfig(optimizer="sgd", lr=0.1, epochs=2, progress=False))
    histories["regression"] = trainer.fit(regression_batches(8)).history
    params.update({f"regression.{k}": v for k, v in trainer.model.state_dict().items()})
    torch.manual_seed(0)
    train, val = lm_streams(batch_size=4, seq_len=8, n=600)
    config = TrainConfig(lr=1e-2, epochs=1, progress=False, eval_every=5)
    trainer = Trainer(TinyLM(), config, run_dir=out_dir / "run_lm")
    histories["lm"] = trainer.fit(train, val).history
    params.update({f"lm.{k}": v for k, v in trainer.model.state_dict().items()})
    save_file({k: v.contiguous() for k, v in params.items()}, str(out_dir / f"rank{rank}.safetensors"))
    (out_dir / f"rank{rank}.json").write_text(json.dumps(histories))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
