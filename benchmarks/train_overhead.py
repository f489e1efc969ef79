"""What the training engine costs: ``Trainer.fit`` against a hand-written loop on the same model.

Both train one char-LSTM task model (embedding H, one ``rnnkit.LSTM`` layer of H units, linear
output over V = 65 symbols) on the same ``StreamBatches`` (B rows, T steps, state carried and
detached), with Adam and gradient-norm clipping at 5. The hand loop does only that; the Trainer
adds everything it always does (running means, schedule, callbacks, log rows every 50 steps, no
run directory). The two alternate in rounds in one process so machine load hits both alike.
Reported: median tokens/s of each and the ratio Trainer / hand loop (1.0 = no overhead).

Not a test: run it by hand, e.g.::

    python benchmarks/train_overhead.py --rounds 3 --batches 40

and copy the printed table into BENCHMARKS.md (section "Training engine").
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.data.streams import Batch, StreamBatches
from rnnkit.nn.losses import LossOutput
from rnnkit.train import TrainConfig, Trainer
from rnnkit.train.tree import detach


@dataclass(frozen=True)
class CharLSTMConfig:
    vocab: int = 65
    hidden: int = 128


class CharLSTM(nn.Module):
    """Embedding -> rnnkit.LSTM -> linear; the mean next-symbol cross-entropy."""

    def __init__(self, config: CharLSTMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.hidden)
        self.rnn = rnnkit.LSTM(config.hidden, config.hidden)
        self.out = nn.Linear(config.hidden, config.vocab)

    def loss(self, batch: Batch, state=None) -> LossOutput:
        hidden, state = self.rnn(self.embed(batch.x), state)                   # (B, T, H)
        logits = self.out(hidden)                                              # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, self.config.vocab), batch.y.reshape(-1))
        return LossOutput(loss, batch.y.numel(), state)


def hand_loop(model: CharLSTM, data: StreamBatches) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    state, tokens, started = None, 0, time.perf_counter()
    for batch in data:
        out = model.loss(batch, state)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        state, tokens = detach(out.state), tokens + out.count
        float(out.loss.detach())                         # the loss a script prints: same sync as the Trainer
    return tokens / (time.perf_counter() - started)


def trainer_loop(model: CharLSTM, data: StreamBatches) -> float:
    trainer = Trainer(model, TrainConfig(lr=2e-3, clip_norm=5.0, progress=False))
    started = time.perf_counter()
    trainer.fit(data)
    return data.batch_size * data.row_len / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="batches per round")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = CharLSTMConfig(hidden=args.hidden)
    ids = torch.randint(config.vocab, (args.batch_size * args.seq_len * args.batches + 1,),
                        generator=torch.Generator().manual_seed(0))
    data = StreamBatches(ids, args.batch_size, args.seq_len)
    speeds: dict[str, list[float]] = {"hand loop": [], "Trainer": []}
    for _ in range(args.rounds):
        for name, loop in (("hand loop", hand_loop), ("Trainer", trainer_loop)):
            torch.manual_seed(0)
            speeds[name].append(loop(CharLSTM(config), data))
    hand, trainer = (statistics.median(speeds[name]) for name in ("hand loop", "Trainer"))
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
          f"B={args.batch_size} T={args.seq_len} H={args.hidden}, {args.batches} batches x {args.rounds} rounds")
    print("| loop | tokens/s (median) |\n|---|---|")
    print(f"| hand-written | {hand:,.0f} |\n| rnnkit Trainer | {trainer:,.0f} |")
    print(f"ratio Trainer / hand loop: {trainer / hand:.3f}")


if __name__ == "__main__":
    main()
