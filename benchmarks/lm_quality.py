"""Tiny-shakespeare character-level validation loss of a 2-layer LSTM within a CPU time budget.

Data: ``../shared/data/tinyshakespeare/input.txt`` (or ``--data``), the standard split: the first 90%
of the characters train, the last 10% validate (``rnnkit.data.text_file(...).split(0.1)``).
Model: ``rnnkit.tasks.LanguageModel`` (embedding, LSTM stack, output layer), trained by
``rnnkit.train.Trainer`` with truncated BPTT over ``StreamBatches``, Adam, gradient norm clipped to 5,
and a reduce-on-plateau schedule (learning rate halved when a validation does not improve).
The whole validation split is scored every ``--eval-every`` steps; the curve of validation and
training loss against wall-clock minutes goes to ``OUT_DIR/lm_quality.png`` and the figures to
``OUT_DIR/lm_quality.json`` (the trainer's checkpoints, ``log.csv`` and ``loss.png`` are there too).

Target: validation loss <= 1.50 nats/char within 60 minutes of CPU training. Not a test: run it by
hand with a time budget, e.g.::

    python benchmarks/lm_quality.py --minutes 60 --out-dir runs/lm-quality

and copy the printed row into BENCHMARKS.md (section "Language model").
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from rnnkit.data import StreamBatches, Vocabulary, text_file
from rnnkit.tasks import LanguageModel, LanguageModelConfig, perplexity_metrics
from rnnkit.train import Callback, TrainConfig, Trainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
TARGET = 1.50


class Curve(Callback):
    """Training loss (mean since the last point) and validation loss against wall-clock minutes."""

    def __init__(self):
        self.points: list[dict] = []
        self.started = time.perf_counter()
        self._sum = self._count = 0.0

    def on_train_batch_end(self, trainer, logs) -> None:
        self._sum += logs["loss"] * logs["count"]
        self._count += logs["count"]

    def on_test_end(self, trainer, logs) -> None:
        point = {"step": logs["step"], "minutes": (time.perf_counter() - self.started) / 60,
                 "train_loss": self._sum / self._count if self._count else None, "val_loss": logs["loss"]}
        self._sum = self._count = 0.0
        self.points.append(point)
        print(json.dumps(point), flush=True)


def plot(points: list[dict], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, label in (("train_loss", "training"), ("val_loss", "validation")):
        xy = [(p["minutes"], p[name]) for p in points if p[name] is not None]
        if xy:
            axes.plot(*zip(*xy), "o-", markersize=3, label=label)
    axes.axhline(TARGET, color="grey", linestyle="--", linewidth=1, label=f"target {TARGET}")
    axes.set_xlabel("wall-clock minutes of training")
    axes.set_ylabel("nats / char")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"a text file (default {DATA})")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget (default 60)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/lm-quality"))
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=200, help="optimizer steps between validations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    corpus = text_file(args.data)
    train_text, val_text = corpus.split(0.1)
    vocab = Vocabulary.build(corpus.text)
    train = StreamBatches(vocab.encode(train_text), args.batch_size, args.seq_len)
    val = StreamBatches(vocab.encode(val_text), args.batch_size, args.seq_len)
    torch.manual_seed(args.seed)
    config = LanguageModelConfig(vocab_size=len(vocab), cell=args.cell, embed_size=args.embed,
                                 hidden_size=args.hidden, layers=args.layers, dropout=args.dropout)
    model = LanguageModel(config)
    train_config = TrainConfig(lr=args.lr, clip_norm=5.0, schedule="plateau", gamma=0.5, plateau_patience=0,
                               epochs=1000, max_time=60 * args.minutes, eval_every=args.eval_every,
                               log_every=args.eval_every, seed=args.seed)
    curve = Curve()
    trainer = Trainer(model, train_config, run_dir=args.out_dir, callbacks=[curve], device="cpu",
                      metadata={"task": "lm", "vocabulary": vocab.to_dict()})
    setup = (f"{args.layers}x{args.hidden} {args.cell.upper()}, E={args.embed}, dropout {args.dropout}, "
             f"B={args.batch_size}, T={args.seq_len}, Adam {args.lr:g}")
    print(f"tiny-shakespeare: {len(train_text):,} train / {len(val_text):,} validation chars, V={len(vocab)}; "
          f"{setup}; {torch.get_num_threads()} threads; budget {args.minutes:g} min", flush=True)
    started = time.perf_counter()
    trainer.fit(train, val)
    wall = (time.perf_counter() - started) / 60
    if not curve.points or curve.points[-1]["step"] != trainer.step:
        trainer.evaluate(val)                       # the final model is scored too
    best = min(curve.points, key=lambda p: p["val_loss"])
    final = curve.points[-1]
    result = {"setup": setup, "budget_minutes": args.minutes, "wall_minutes": wall, "steps": trainer.step,
              "epochs": trainer.step / len(train), "final_val_loss": final["val_loss"],
              "best_val_loss": best["val_loss"], "best_at_minutes": best["minutes"],
              "best_bits_per_char": perplexity_metrics(best["val_loss"])["bits"],
              "target_met": best["val_loss"] <= TARGET, "curve": curve.points,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "lm_quality.json").write_text(json.dumps(result, indent=1))
    plot(curve.points, args.out_dir / "lm_quality.png", f"tiny-shakespeare, {setup}")
    print(f"\n| setup | budget | steps (epochs) | best val nats/char (at min) | final val | target <= {TARGET} |")
    print("|---|---|---|---|---|---|")
    print(f"| {setup} | {args.minutes:g} min | {trainer.step} ({result['epochs']:.2f}) | "
          f"{best['val_loss']:.4f} ({best['minutes']:.1f}) | {final['val_loss']:.4f} | "
          f"{'met' if result['target_met'] else 'not met'} |")
    print(f"curve: {args.out_dir / 'lm_quality.png'}")


if __name__ == "__main__":
    main()
