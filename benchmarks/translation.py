"""Chinese → English translation on Tatoeba (../shared/data/tatoeba-cmn/cmn.txt): BLEU with and without attention.

Fixed seeded 90/5/5 split of the pairs (``split_items(pairs, seed=0, dev=0.05, test=0.05)``); Chinese read by characters,
English by words. Two models with the same encoder and decoder (GRU, bidirectional encoder) are
trained, one with Bahdanau attention and input feeding, one without attention; each is scored on
the whole test split with greedy search and beam search (beam 5), BLEU and chrF from sacrebleu.
After every epoch a validation BLEU (greedy, the first ``--curve-sentences`` validation pairs)
records the learning curve. The training budget is CPU time of this process (one thread by
default), so a busy shared machine slows the run down but does not change what it reaches; the
wall-clock time is reported too. The curve's decoding is not counted in either.

The learning rate follows a cosine (after a linear warm-up) over the steps the budget holds,
planned from the CPU time of a few timed training steps (:func:`budget_steps`), so that it has come
down when the budget ends; the CPU-time stop stays as the safety. ``--schedule plateau`` (halved on
every validation-loss plateau, the first recipe) is kept for comparison.

Not a test: run it by hand with a budget, e.g.::

    python benchmarks/translation.py --cpu-minutes 40 --no-attention-cpu-minutes 20 --out-dir runs/translation

(``--only attention`` trains the attention model only) and copy the printed table into BENCHMARKS.md
(section "Translation"). The learning curves (validation
BLEU against training CPU minutes) go to ``--curve-png`` (``benchmarks/results/translation_curve.png``);
``--report-only`` prints the table and redraws the plot from ``OUT_DIR/results.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import torch

from rnnkit.data.pairs import PairBatches, build_vocabulary, encode_pairs, read_pairs
from rnnkit.data.splits import split_items
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.translation import Translator, translation_scores
from rnnkit.train import Callback, TrainConfig, Trainer
from rnnkit.train.plan import step_seconds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tatoeba-cmn" / "cmn.txt"
CURVE_PNG = Path(__file__).resolve().parent / "results" / "translation_curve.png"
OVERHEAD = 1.1          # a training step's CPU time over its forward + backward pass (optimizer, validations)


class Clock:
    """Training time so far, CPU and wall clock, leaving out the time spent in :meth:`paused` blocks."""

    def __init__(self):
        self.cpu, self.wall = time.process_time(), time.time()

    def minutes(self) -> tuple[float, float]:
        return (time.process_time() - self.cpu) / 60, (time.time() - self.wall) / 60

    @contextlib.contextmanager
    def paused(self):
        cpu, wall = time.process_time(), time.time()
        yield
        self.cpu += time.process_time() - cpu
        self.wall += time.time() - wall


class CpuBudget(Callback):
    """Stops training once the training CPU time reaches ``minutes``."""

    def __init__(self, clock: Clock, minutes: float):
        self.clock, self.minutes = clock, minutes

    def on_train_batch_end(self, trainer, logs) -> None:
        if self.clock.minutes()[0] >= self.minutes:
            trainer.stop_training = True


def budget_steps(model: Seq2Seq, train: PairBatches, clock: Clock, minutes: float, sample: int) -> int:
    """The optimizer steps the rest of ``minutes`` of training CPU time holds: 60 * (minutes - timing) /
    (OVERHEAD * t), t the mean CPU time of the forward and backward pass over ``sample`` training batches
    (a mean, not the fastest: the length buckets make batches of unequal cost), OVERHEAD the share of
    the optimizer update and the validations; the timing is spent from the budget."""
    timings = step_seconds(model, train, steps=sample, clock=time.process_time)
    seconds = OVERHEAD * sum(timings) / len(timings)
    left = minutes - clock.minutes()[0]
    steps = max(1, int(60 * left / seconds))
    print(f"cosine plan: {1000 * seconds:.0f} CPU ms/step -> {steps} steps in {left:.2f} CPU minutes", flush=True)
    return steps


class ValidationBleu(Callback):
    """After every epoch: greedy BLEU on the first validation pairs, with the training time so far."""

    def __init__(self, translator: Translator, pairs: list, clock: Clock):
        self.translator, self.pairs, self.clock = translator, pairs, clock
        self.curve: list[dict] = []

    def on_epoch_end(self, trainer, logs) -> None:
        with self.clock.paused():
            hypotheses = self.translator.translate([s for s, _ in self.pairs])
            scores = translation_scores(hypotheses, [t for _, t in self.pairs])
        cpu, wall = self.clock.minutes()
        point = {"epoch": logs["epoch"] + 1, "step": logs["step"], "cpu_minutes": cpu, "wall_minutes": wall,
                 "loss": logs.get("loss"), "val_loss": logs.get("val_loss"), "val_bleu": scores["bleu"]}
        self.curve.append(point)
        print(json.dumps(point), flush=True)


def run_variant(name: str, attention: str, minutes: float, args, data) -> dict:
    train_pairs, val_pairs, test_pairs, src_vocab, tgt_vocab = data
    torch.manual_seed(args.seed)
    config = Seq2SeqConfig(len(src_vocab), len(tgt_vocab), cell=args.cell, embed_size=args.embed,
                           hidden_size=args.hidden, encoder_layers=args.layers, decoder_layers=args.layers,
                           bidirectional=True, attention=attention, dropout=args.dropout,
                           label_smoothing=args.label_smoothing)
    model = Seq2Seq(config)
    examples = encode_pairs(train_pairs, src_vocab, tgt_vocab, args.max_len, args.max_len)
    train = PairBatches(examples, args.batch_size)
    val = PairBatches(encode_pairs(val_pairs, src_vocab, tgt_vocab), args.batch_size, shuffle=False)
    translator = Translator(model, src_vocab, tgt_vocab)
    clock = Clock()
    max_steps = budget_steps(model, train, clock, minutes, args.timed_steps) if args.schedule == "cosine" else None
    torch.manual_seed(args.seed)                         # the timed steps drew dropout masks
    curve = ValidationBleu(translator, val_pairs[:args.curve_sentences], clock)
    train_config = TrainConfig(lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
                               warmup_steps=args.warmup_steps, gamma=0.5, plateau_patience=0, clip_norm=5.0,
                               epochs=args.epochs, max_steps=max_steps, seed=args.seed, log_every=100)
    metadata = {"task": "seq2seq", "src_vocab": src_vocab.to_dict(), "tgt_vocab": tgt_vocab.to_dict()}
    trainer = Trainer(model, train_config, run_dir=Path(args.out_dir) / name,
                      callbacks=[CpuBudget(clock, minutes), curve], metadata=metadata)
    trainer.fit(train, val)
    cpu_minutes, wall_minutes = clock.minutes()
    result = {"name": name, "attention": attention, "epochs": trainer.epoch, "steps": trainer.step,
              "planned_steps": max_steps, "schedule": args.schedule, "lr": args.lr, "warmup_steps": args.warmup_steps,
              "dropout": args.dropout, "label_smoothing": args.label_smoothing, "weight_decay": args.weight_decay,
              "train_cpu_minutes": cpu_minutes, "train_wall_minutes": wall_minutes, "curve": curve.curve,
              "parameters": sum(p.numel() for p in model.parameters())}
    sources, references = [s for s, _ in test_pairs], [t for _, t in test_pairs]
    for beam in (1, 5):
        begun = time.time()
        hypotheses = translator.translate(sources, beam_size=beam)
        scores = translation_scores(hypotheses, references)
        result[f"beam{beam}"] = {**scores, "seconds": time.time() - begun,
                                 "examples": list(zip(sources[:5], hypotheses[:5], references[:5]))}
        print(json.dumps({"name": name, "beam": beam, **scores}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--cpu-minutes", type=float, default=40.0, help="training CPU budget with attention")
    parser.add_argument("--no-attention-cpu-minutes", type=float, default=20.0, help="training CPU budget without")
    parser.add_argument("--epochs", type=int, default=100, help="at most this many passes (the budget ends sooner)")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="epsilon of the training loss")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay of Adam")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of Adam")
    parser.add_argument("--schedule", choices=["cosine", "plateau"], default="cosine",
                        help="cosine over the steps the budget holds, or halved on every validation-loss plateau")
    parser.add_argument("--warmup-steps", type=int, default=300, help="steps of linear warm-up")
    parser.add_argument("--timed-steps", type=int, default=20, help="training batches timed to plan the cosine")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=40, help="training pairs longer (tokens) are dropped")
    parser.add_argument("--min-count", type=int, default=2, help="rarer English words become <unk>")
    parser.add_argument("--curve-sentences", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["attention", "none"], help="train one variant only")
    parser.add_argument("--out-dir", default="runs/translation")
    parser.add_argument("--curve-png", type=Path, default=CURVE_PNG, help="where the learning-curve plot goes")
    parser.add_argument("--report-only", action="store_true", help="print the table of OUT_DIR/results.json, redraw the plot")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.report_only:
        report(json.loads((Path(args.out_dir) / "results.json").read_text(encoding="utf-8")), args.threads,
               args.curve_png)
        return

    pairs = read_pairs(args.data, src_col=1, tgt_col=0)
    train_pairs, val_pairs, test_pairs = split_items(pairs, seed=0, dev=0.05, test=0.05)
    src_vocab = build_vocabulary([s for s, _ in train_pairs], "char")
    tgt_vocab = build_vocabulary([t for _, t in train_pairs], "word", min_count=args.min_count)
    print(f"pairs: {len(train_pairs)} train / {len(val_pairs)} val / {len(test_pairs)} test; "
          f"vocabularies: zh {len(src_vocab)} chars, en {len(tgt_vocab)} words", flush=True)
    data = (train_pairs, val_pairs, test_pairs, src_vocab, tgt_vocab)
    variants = [("attention", "bahdanau", args.cpu_minutes), ("no-attention", "none", args.no_attention_cpu_minutes)]
    results = [run_variant(name, attention, minutes, args, data) for name, attention, minutes in variants
               if args.only is None or args.only == attention.replace("bahdanau", "attention")]

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    report(results, args.threads, args.curve_png)


def plot_curve(results: list[dict], path: Path) -> None:
    """Validation BLEU (greedy) after each epoch against the training CPU minutes, one line a model."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for r in results:
        recipe = "".join(f", {name} {r[key]}" for key, name in (("dropout", "dropout"),
                                                                  ("label_smoothing", "label smoothing"),
                                                                  ("weight_decay", "weight decay")) if r.get(key))
        axes.plot([p["cpu_minutes"] for p in r["curve"]], [p["val_bleu"] for p in r["curve"]], marker=".",
                  label=f"{r['name']}, {r.get('schedule', 'plateau')} lr{recipe} "
                        f"(test BLEU beam 5: {r['beam5']['bleu']:.1f})")
    axes.set_xlabel("training CPU minutes (1 thread)")
    axes.set_ylabel("validation BLEU, greedy")
    axes.set_title("Tatoeba zh→en, GRU encoder-decoder")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)


def report(results: list[dict], threads: int, curve_png: Path) -> None:
    """Prints the table and the curves, and draws the curve plot at ``curve_png``."""
    plot_curve(results, curve_png)
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, {threads} thread(s)")
    print("| model | epochs (steps) | train CPU min | train wall min | test BLEU greedy | test BLEU beam 5 "
          "| chrF greedy | chrF beam 5 | decode s greedy / beam 5 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['epochs']} ({r['steps']}) | {r['train_cpu_minutes']:.1f} | "
              f"{r['train_wall_minutes']:.1f} | {r['beam1']['bleu']:.1f} | {r['beam5']['bleu']:.1f} | "
              f"{r['beam1']['chrf']:.1f} | {r['beam5']['chrf']:.1f} | "
              f"{r['beam1']['seconds']:.0f} / {r['beam5']['seconds']:.0f} |")
    for r in results:
        print(f"\n{r['name']} curve (epoch, CPU min, wall min, train loss, val loss, val BLEU greedy):")
        for p in r["curve"]:
            print(f"  {p['epoch']}  {p['cpu_minutes']:.1f}  {p['wall_minutes']:.1f}  {p['loss']:.3f}  "
                  f"{p['val_loss']:.3f}  {p['val_bleu']:.1f}")


if __name__ == "__main__":
    main()
