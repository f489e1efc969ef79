"""Training speed of rnnkit's language model + Trainer against a plain-PyTorch char-LSTM script.

Both train the same character-level model (embedding E, ``num_layers`` LSTM layers of H units,
linear output over the vocabulary) on the same tiny-shakespeare stream batches (B rows, T steps,
state carried and detached between batches, Adam, gradient norm clipped to 5):

* rnnkit: ``rnnkit.tasks.LanguageModel`` (an ``rnnkit.LSTM`` stack) trained by ``rnnkit.train.Trainer``
  on ``rnnkit.data.StreamBatches``;
* plain PyTorch: the idiomatic script, ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear`` and a hand loop.

The two alternate in rounds in one process, so machine load hits both alike; each round times
``--steps`` optimizer steps after ``--warmup`` untimed ones. Reported: median training tokens/s of
each and the ratio rnnkit / PyTorch (target >= 1.0).

Not a test: run it by hand, e.g.::

    python benchmarks/lm_speed.py --rounds 3 --steps 15

and copy the printed table into BENCHMARKS.md (section "Language model").
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data import StreamBatches, Vocabulary, read_text
from rnnkit.tasks import LanguageModel, LanguageModelConfig
from rnnkit.train import Callback, TrainConfig, Trainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"


class StepClock(Callback):
    """Records the wall time and the token count of every training batch."""

    def __init__(self):
        self.times: list[float] = []
        self.counts: list[int] = []

    def on_train_begin(self, trainer, logs) -> None:
        self.times, self.counts = [time.perf_counter()], []

    def on_train_batch_end(self, trainer, logs) -> None:
        self.times.append(time.perf_counter())
        self.counts.append(logs["count"])


def tokens_per_second(times: list[float], counts: list[int], warmup: int) -> float:
    """Tokens of the batches after ``warmup`` divided by their wall time."""
    return sum(counts[warmup:]) / (times[-1] - times[warmup])


def rnnkit_round(model: LanguageModel, batches: StreamBatches, steps: int, warmup: int,
                 config: TrainConfig = TrainConfig(lr=2e-3, clip_norm=5.0)) -> float:
    """Trainer.fit with ``config``, stopped after ``warmup + steps`` steps; tokens/s of the timed steps."""
    clock = StepClock()
    config = dataclasses.replace(config, max_steps=warmup + steps, progress=False, log_every=10**6)
    Trainer(model, config, callbacks=[clock], device="cpu").fit(batches)
    return tokens_per_second(clock.times, clock.counts, warmup)


class CharLSTM(nn.Module):
    """The plain-PyTorch char-rnn model: embedding, nn.LSTM, linear output (sharing the embedding if ``tie``)."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int, tie: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie:
            self.head.weight = self.embed.weight

    def forward(self, x, hidden=None):
        out, hidden = self.lstm(self.embed(x), hidden)                            # (B, T, H)
        return self.head(out), hidden                                             # (B, T, V)


def torch_round(model: CharLSTM, optimizer: torch.optim.Optimizer, batches: StreamBatches, steps: int,
                warmup: int, precision: str = "fp32") -> float:
    """The plain training loop (bf16: under CPU autocast); tokens/s of the steps after ``warmup``."""
    times, counts, hidden = [time.perf_counter()], [], None
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    for batch, _ in zip(batches, range(warmup + steps)):
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        with autocast:
            logits, hidden = model(batch.x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch.y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        times.append(time.perf_counter())
        counts.append(batch.y.numel())
    return tokens_per_second(times, counts, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"a text file (default {DATA})")
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--steps", type=int, default=15, help="timed optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    text = read_text(args.data)
    vocab = Vocabulary.build(text)
    batches = StreamBatches(vocab.encode(text), args.batch_size, args.seq_len)
    torch.manual_seed(0)
    ours = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), cell="lstm", embed_size=args.embed,
                                             hidden_size=args.hidden, layers=args.layers))
    theirs = CharLSTM(len(vocab), args.embed, args.hidden, args.layers)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    optimizer = torch.optim.Adam(theirs.parameters(), lr=2e-3)

    print(f"char LSTM: V={len(vocab)} E={args.embed} H={args.hidden} L={args.layers} B={args.batch_size} "
          f"T={args.seq_len}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}", flush=True)
    speeds: dict[str, list[float]] = {"rnnkit": [], "torch": []}
    for round_index in range(args.rounds):
        speeds["rnnkit"].append(rnnkit_round(ours, batches, args.steps, args.warmup))
        speeds["torch"].append(torch_round(theirs, optimizer, batches, args.steps, args.warmup))
        print(f"round {round_index + 1}: rnnkit {speeds['rnnkit'][-1]:,.0f} tokens/s, "
              f"plain PyTorch {speeds['torch'][-1]:,.0f} tokens/s", flush=True)
    ratios = [a / b for a, b in zip(speeds["rnnkit"], speeds["torch"])]
    ours_median, theirs_median = statistics.median(speeds["rnnkit"]), statistics.median(speeds["torch"])
    print("\n| implementation | training tokens/s (median of rounds) |\n|---|---|")
    print(f"| rnnkit LanguageModel + Trainer | {ours_median:,.0f} |")
    print(f"| plain PyTorch (nn.LSTM) script | {theirs_median:,.0f} |")
    print(f"\nratio rnnkit / PyTorch: {ours_median / theirs_median:.2f}x "
          f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
