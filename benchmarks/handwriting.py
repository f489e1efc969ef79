"""Handwriting benchmark: held-out NLL per point of the writers, recognition accuracy, legibility, figures.

    python benchmarks/handwriting.py --steps 2000 --out runs/bench-handwriting

Trains, through the command line and one intra-op thread each, on KanjiVG characters (the CHARS
subset below: a CPU budget), one after another, each for the same number of optimizer steps
(batches of 32, Adam 2e-3 on a cosine schedule to 0; ``--minutes`` caps a run on a busy machine):

    writer, --conditional char, M = 20 | writer, --conditional char, M = 1 | writer, --conditional none, M = 20
    writer, --conditional components, M = 20 | recogniser (bidirectional LSTM) on CHARS + NOVEL

NOVEL are KanjiVG characters outside CHARS made of components that CHARS have (no writer sees
them). It reports: test NLL per point (nats; fixed affine copies of the training characters,
seed 2) of each writer and of a memoryless baseline (one Gaussian for every offset, pen-state
frequencies); the free writer's NLL on characters it never saw (UNSEEN); the
recogniser's top-1 / top-5 on the test copies; legibility: the recogniser's top-1 / top-5 on 4
samples per character of each conditional writer at temperatures 0.5 and 1.0 (the components
writer also on NOVEL); CPU minutes of every run. It writes ``benchmarks/results/handwriting.json``,
the figure ``handwriting_samples.png`` (the KanjiVG original beside 4 samples at τ = 0.5 and 4 at
τ = 1.0), ``handwriting_novel.png`` (the same for NOVEL characters by the components writer) and
``handwriting_yong.gif`` (永 being written).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from rnnkit.cli.task import task_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# 98 frequent Chinese characters that KanjiVG has (its Japanese forms), in frequency order.
CHARS = ("永的一是不了人我在有他中大来上国个到子和地出道也年得就那要下以生会自着去之家学可里"
         "后小心多天而能好都然没日于成事只作当想看文无手十用主行方又如前所本面公同三已老从知民"
         "分将外但身些与高意把法此回二理")
UNSEEN = "美明点月起朝夜花雨空海森林石竹糸虫貝車町村早草音王玉円百千犬"       # 30 KanjiVG characters outside CHARS
FIGURE_CHARS = "永我学高"
TEMPERATURES = (0.5, 1.0)
SAMPLES = 4
RUNS = {
    "char_m20": ["--model", "writer", "--conditional", "char", "--mixtures", "20"],
    "char_m1": ["--model", "writer", "--conditional", "char", "--mixtures", "1"],
    "free_m20": ["--model", "writer", "--conditional", "none", "--mixtures", "20"],
    "components_m20": ["--model", "writer", "--conditional", "components", "--mixtures", "20"],
    "recognizer": ["--model", "recognizer", "--dropout", "0.2"],
}
NOVEL_COUNT = 20
COPIES = 5                  # affine copies per character of the held-out NLL


def novel() -> str:
    """NOVEL_COUNT KanjiVG characters outside CHARS, of two or more components all of which CHARS have."""
    from rnnkit.data.stroke_corpora import kanjivg, kanjivg_files
    from rnnkit.tasks.handwriting_components import parts_of

    seen = {c for d in kanjivg(CHARS) for c in parts_of(d)}
    found = []
    for char in kanjivg_files():
        if char not in CHARS and "\u4e00" <= char <= "\u9fff":
            (drawing,) = kanjivg(char)
            if len(drawing.components) >= 2 and set(drawing.components) <= seen:
                found.append(char)
                if len(found) == NOVEL_COUNT:
                    break
    return "".join(found)


def train(name: str, options: list[str], args: argparse.Namespace, chars: str) -> dict:
    """Runs ``rnnkit train handwriting`` in a child process; its test scores, wall and CPU minutes."""
    run_dir = Path(args.out) / name
    command = [sys.executable, "-m", "rnnkit", "train", "handwriting", "--corpus", "kanjivg", "--chars", chars,
               *options, "--hidden-size", str(args.hidden_size), "--layers", "2", "--batch-size", "32",
               "--lr", "2e-3", "--schedule", "cosine", "--max-steps", str(args.steps), "--minutes", str(args.minutes),
               "--epochs", "100000", "--patience", "none",
               "--eval-every", "250", "--checkpoint-every", "250", "--threads", "1", "--seed", "0", "--quiet",
               "--run-dir", str(run_dir), "--overwrite"]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / 60
    log = run_dir / "log.csv"
    steps = len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else None
    print(f"{name}: {json.dumps({k: v for k, v in scores.items() if isinstance(v, float)})}  "
          f"wall {(time.time() - start) / 60:.1f} min, cpu {cpu:.1f} min", flush=True)
    return {"scores": scores, "wall_minutes": (time.time() - start) / 60, "cpu_minutes": cpu, "log_rows": steps,
            "command": " ".join(command[1:])}


def held_out_nll(run_dir: Path, chars: str, copies: int = COPIES) -> dict:
    """A writer's NLL per point on ``copies`` fixed affine copies (seeds 10, 11, ...) of the KanjiVG
    drawings of ``chars`` (characters it knows, or any for a free writer): over all points, over the
    first point of each stroke (the jump of the lifted pen to where the next stroke starts) and over
    the others (the pen moving on the paper)."""
    import numpy as np
    import torch

    from rnnkit.data.stroke_corpora import kanjivg
    from rnnkit.data.strokes import DOWN, Augment, StrokeBatches, resample
    from rnnkit.tasks.handwriting_components import load_writer

    model, _ = load_writer(task_checkpoint(str(run_dir), "handwriting"))
    originals = [resample(d, model.config.spacing) for d in kanjivg(chars)]
    drawings = [Augment()(d, np.random.default_rng(10 + k)) for k in range(copies) for d in originals]
    ids = [model.config.labels.index(d.label) for d in drawings] if model.config.labels else None
    sums = {"all": 0.0, "jumps": 0.0, "strokes": 0.0}
    counts = dict.fromkeys(sums, 0)
    with torch.no_grad():
        for batch in StrokeBatches(drawings, ids, 32, shuffle=False):
            offsets, pens = model.point_losses(batch)
            previous = torch.cat([torch.ones_like(batch.pens[:, :1]), batch.pens[:, :-1]], 1)     # x_1: pen up
            valid = torch.arange(batch.pens.shape[1])[None, :] < batch.lengths[:, None]
            jumps = valid & (previous != DOWN)
            for name, mask in (("all", valid), ("jumps", jumps), ("strokes", valid & ~jumps)):
                sums[name] += float(((offsets + pens) * mask).sum())
                counts[name] += int(mask.sum())
    return {name: sums[name] / counts[name] for name in sums}


def baseline_nll() -> float:
    """The NLL per point of a model without memory (the peer a writer must beat): every offset from one
    full-covariance Gaussian and every pen state from its frequency, fitted on the training drawings,
    scored on the writers' test copies (seed 2)."""
    import numpy as np

    from rnnkit.data.stroke_corpora import kanjivg
    from rnnkit.data.strokes import Augment, resample, to_offsets

    drawings = [resample(d, 0.1) for d in kanjivg(CHARS)]
    train = np.concatenate([to_offsets(d) for d in drawings])
    rng = np.random.default_rng(2)
    test = np.concatenate([to_offsets(Augment()(d, rng)) for d in drawings])
    mean, cov = train[:, :2].mean(0), np.cov(train[:, :2].T)
    z = test[:, :2] - mean
    log_density = -np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(cov)) - 0.5 * np.einsum(
        "ni,ij,nj->n", z, np.linalg.inv(cov), z)
    frequency = np.bincount(train[:, 2].astype(int), minlength=3) / len(train)
    return float(-(log_density + np.log(frequency[test[:, 2].astype(int)])).mean())


def legibility(writer_dir: Path, recognizer_dir: Path, chars: str = CHARS) -> dict:
    """Top-1 / top-5 of the recogniser on SAMPLES drawings of every character of ``chars`` per temperature."""
    import torch

    from rnnkit.data.stroke_corpora import kanjivg
    from rnnkit.tasks.handwriting import write
    from rnnkit.tasks.handwriting_components import load_writer, parts_of
    from rnnkit.tasks.handwriting_recognizer import (
        Recognizer,
        recognize,
        top_k_accuracy,
    )

    writer, metadata = load_writer(task_checkpoint(str(writer_dir), "handwriting"))
    recognizer, _ = Recognizer.from_checkpoint(task_checkpoint(str(recognizer_dir), "handwriting-recognizer"))
    labels = [c for c in chars for _ in range(SAMPLES)]
    gold = [recognizer.config.labels.index(c) for c in labels]
    parts = {d.label: parts_of(d) for d in kanjivg(chars)}
    found = {}
    for temperature in TEMPERATURES:
        drawings = write(writer, labels, 1, temperature, metadata["max_points"], torch.Generator().manual_seed(0),
                         parts)
        p = recognize(recognizer, drawings)
        found[str(temperature)] = {"top1": top_k_accuracy(p, gold, 1), "top5": top_k_accuracy(p, gold, 5),
                                   "samples": len(labels)}
    return found


def figure(writer_dir: Path, chars: str, name: str) -> None:
    """Per character of ``chars``: the KanjiVG original, SAMPLES samples at each temperature (64-pixel cells)."""
    import torch

    from rnnkit.data.stroke_corpora import kanjivg
    from rnnkit.data.stroke_render import grid
    from rnnkit.tasks.handwriting import write
    from rnnkit.tasks.handwriting_components import load_writer, parts_of

    writer, metadata = load_writer(task_checkpoint(str(writer_dir), "handwriting"))
    generator = torch.Generator().manual_seed(1)
    rows = []
    for original in kanjivg(chars):
        row = [original]
        for temperature in TEMPERATURES:
            row += write(writer, [original.label] * SAMPLES, 1, temperature, metadata["max_points"], generator,
                         {original.label: parts_of(original)})
        rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    grid(rows, cell=64).save(RESULTS / name, optimize=True)


def animation(writer_dir: Path) -> None:
    """永 being written (a 128-pixel GIF)."""
    import torch

    from rnnkit.data.stroke_render import save_drawing
    from rnnkit.tasks.handwriting import write
    from rnnkit.tasks.handwriting_components import load_writer

    writer, metadata = load_writer(task_checkpoint(str(writer_dir), "handwriting"))
    yong = write(writer, ["永"], 1, 0.5, metadata["max_points"], torch.Generator().manual_seed(0))[0]
    save_drawing(yong, RESULTS / "handwriting_yong.gif", size=128, note=metadata.get("note"), frames=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps of each run")
    parser.add_argument("--minutes", type=float, default=25.0, help="at most this many training minutes a run")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--out", default="runs/bench-handwriting", help="the run directories")
    parser.add_argument("--only", choices=list(RUNS), nargs="*", help="train only these (others are reused)")
    parser.add_argument("--train-only", action="store_true",
                        help="stop after training (two processes may train different --only runs side by side)")
    args = parser.parse_args()
    novel_chars = novel()
    results = {"chars": CHARS, "unseen": UNSEEN, "novel": novel_chars, "steps": args.steps, "minutes": args.minutes,
               "hidden_size": args.hidden_size, "runs": {}}
    path = RESULTS / "handwriting.json"
    for name, options in RUNS.items():
        if args.only is None or name in args.only:
            chars = CHARS + novel_chars if name == "recognizer" else CHARS
            run = train(name, options, args, chars)
            results["runs"] = stored_runs(path) | {name: run}
            RESULTS.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.train_only:
        return
    results["runs"] = stored_runs(path)
    out = Path(args.out)
    torch_threads()
    results["baseline_nll"] = baseline_nll()
    results["held_out_nll"] = {name: held_out_nll(out / name, CHARS) for name in RUNS if name != "recognizer"}
    results["unseen_nll_free_m20"] = held_out_nll(out / "free_m20", UNSEEN)
    results["legibility"] = {name: legibility(out / name, out / "recognizer") for name in ("char_m20", "char_m1",
                                                                                          "components_m20")}
    results["legibility"]["components_m20_novel"] = legibility(out / "components_m20", out / "recognizer", novel_chars)
    figure(out / "char_m20", FIGURE_CHARS, "handwriting_samples.png")
    figure(out / "components_m20", novel_chars[:4], "handwriting_novel.png")
    animation(out / "char_m20")
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=1, ensure_ascii=False))


def stored_runs(path: Path) -> dict:
    """The runs already in the results file (read again before each write: another process may add its own)."""
    return json.loads(path.read_text(encoding="utf-8")).get("runs", {}) if path.exists() else {}


def torch_threads() -> None:
    import torch

    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
