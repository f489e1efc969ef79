"""Image captioning on the emoji set (../shared/data/emoji-captions): three decoders against retrieval peers.

Every model is trained by the command line, exactly as a user would (``rnnkit train captioner`` with
``--split-by emoji``: all skin tones of an emoji in one split, 80/10/10 % of the families), one run per
decoder (step1, init, attention) and language (English by words, Chinese by characters), one after the
other, each in one thread, for a fixed number of epochs (:data:`TRAINING`: 32 x 32 pixels, three CNN
blocks, 10 epochs under a cosine schedule; the checkpoint with the best dev loss is scored, the last
one by greedy search too). The test images (families never seen in training) are then captioned by
each model with greedy search and beam 5, and scored beside three peers on the same images:

- nearest neighbour in pixel space: the caption of the training image closest in Euclidean distance
  of the 64 x 64 RGB pixels (32 x 32 scores the same within a point);
- nearest neighbour in the trained CNN's feature space (Devlin et al. 2015): the same with the pooled
  region features of the attention model's CNN (cosine similarity);
- the most frequent training caption (every caption of this set is unique, so ties go to the caption
  whose tokens are the most frequent in the training captions on average).

Scores: sacrebleu corpus BLEU-4 and BLEU-1, chrF, exact match (:func:`rnnkit.tasks.captioning.caption_scores`).
Training cost: the CPU minutes of each training process (``os.wait4``), and its wall-clock minutes;
scoring cost: the CPU minutes of this process (``time.process_time``).

Not a test: run it by hand, e.g.::

    python benchmarks/captioning.py --out-dir runs/captioning

It prints the table for BENCHMARKS.md ("Captioning"), writes ``OUT_DIR/results.json`` (with every test
caption), ``benchmarks/results/captioning.json`` (the scores) and the figures
``benchmarks/results/captioning_samples.png`` and ``benchmarks/results/captioning_attention.png``;
``--report-only`` rescores the trained runs without training.
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

from rnnkit.cli.captioner import save_attention_plot
from rnnkit.cli.translate import drawable_labels
from rnnkit.data.captions import LEVELS, read_captions, split_by_group
from rnnkit.data.images import read_images
from rnnkit.data.tokenize import tokenize
from rnnkit.tasks.captioning import ImageCaptioner, caption_scores

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "emoji-captions"
RESULTS = Path(__file__).resolve().parent / "results"
DECODERS = ("step1", "init", "attention")
LANGS = ("en", "zh")
TRAINING = ["--split-by", "emoji", "--image-size", "32", "--shift", "2", "--channels", "32,64,128",
            "--epochs", "10", "--schedule", "cosine", "--patience", "none", "--threads", "1", "--quiet", "--overwrite"]


def train(out_dir: Path, lang: str, decoder: str) -> dict:
    """Runs ``rnnkit train captioner`` in a child process; returns its CPU and wall minutes."""
    run_dir = out_dir / f"{lang}-{decoder}"
    command = [sys.executable, "-m", "rnnkit", "train", "captioner", "--images", str(DATA / "images"),
               "--captions", str(DATA / "captions.tsv"), "--lang", lang, "--decoder", decoder,
               "--run-dir", str(run_dir), *TRAINING]
    started = time.time()
    with open(out_dir / f"{lang}-{decoder}.log", "w", encoding="utf-8") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed; see {out_dir / f'{lang}-{decoder}.log'}")
    return {"cpu_minutes": (usage.ru_utime + usage.ru_stime) / 60, "wall_minutes": (time.time() - started) / 60}


def most_frequent_caption(captions: list[str], level: str) -> str:
    """The most frequent caption; ties: the highest mean count of its tokens in all the captions."""
    counts = collections.Counter(captions)
    tokens = collections.Counter(t for c in captions for t in tokenize(c, level) if not t.isspace())

    def score(caption: str):
        words = [t for t in tokenize(caption, level) if not t.isspace()]
        return counts[caption], sum(math.log(tokens[t]) for t in words) / max(1, len(words)), caption

    return max(counts, key=score)


def nearest(train_vectors: torch.Tensor, test_vectors: torch.Tensor, cosine: bool) -> list[int]:
    """The index of the closest training vector for each test vector."""
    if cosine:
        a, b = torch.nn.functional.normalize(test_vectors, dim=1), torch.nn.functional.normalize(train_vectors, dim=1)
        return (a @ b.T).argmax(dim=1).tolist()
    return torch.cdist(test_vectors, train_vectors).argmin(dim=1).tolist()


def trained(out_dir: Path, lang: str) -> list[str]:
    """The decoders whose training in ``lang`` has finished (its test scores are written)."""
    return [decoder for decoder in DECODERS if (out_dir / f"{lang}-{decoder}" / "test_scores.json").exists()]


@functools.cache
def pictures(files: tuple[str, ...], side: int) -> torch.Tensor:
    """The emoji images ``uint8 (N, 3, side, side)``, read once per size."""
    return read_images([DATA / "images" / file for file in files], side)


def evaluate(out_dir: Path, costs: dict) -> dict:
    """Scores every trained run (greedy, beam 5) and the peers on the test split, per language."""
    torch.set_num_threads(1)
    results: dict = {"runs": {}, "peers": {}, "samples": {}}
    for lang in LANGS:
        items = read_captions(DATA / "captions.tsv", DATA / "images", lang, "emoji")
        train_items, _, test_items = split_by_group(items)
        level = LEVELS[lang]
        references = [list(item.captions) for item in test_items]
        train_images, test_images = (pictures(tuple(i.file for i in part), 64) for part in (train_items, test_items))
        train_captions = [i.captions[0] for i in train_items]
        peers = {"nearest neighbour, pixels": [train_captions[j] for j in nearest(
            train_images.flatten(1).float(), test_images.flatten(1).float(), cosine=False)]}
        samples = {"file": [i.file for i in test_items], "group": [i.group for i in test_items],
                   "reference": [i.captions[0] for i in test_items]}
        for decoder in trained(out_dir, lang):
            captioner = ImageCaptioner.from_checkpoint(out_dir / f"{lang}-{decoder}" / "best")
            train_seen, test_seen = (pictures(tuple(i.file for i in part), captioner.image_size)
                                     for part in (train_items, test_items))
            for beam in (1, 5):
                started = time.time()
                hypotheses = captioner.caption_images(test_seen, beam_size=beam)
                scores = caption_scores(hypotheses, references, level)
                scores.update(decode_seconds=time.time() - started, **costs.get(f"{lang}-{decoder}", {}))
                scores["steps"] = json.loads((out_dir / f"{lang}-{decoder}" / "test_scores.json").read_text())["steps"]
                results["runs"][f"{lang}-{decoder}-beam{beam}"] = scores
                samples[f"{decoder}-beam{beam}"] = hypotheses
            last = ImageCaptioner.from_checkpoint(out_dir / f"{lang}-{decoder}")       # the newest checkpoint
            results["runs"][f"{lang}-{decoder}-last-beam1"] = caption_scores(last.caption_images(test_seen), references,
                                                                             level)
            if decoder == "attention":
                features = nearest(captioner.features(train_seen), captioner.features(test_seen), cosine=True)
                peers["nearest neighbour, CNN features"] = [train_captions[j] for j in features]
        peers["most frequent caption"] = [most_frequent_caption(train_captions, level)] * len(test_items)
        results["peers"][lang] = {name: caption_scores(h, references, level) for name, h in peers.items()}
        results["peers"][lang]["most frequent caption"]["caption"] = peers["most frequent caption"][0]
        results["samples"][lang] = samples
        results[f"{lang}_split"] = {"train": len(train_items), "test": len(test_items)}
    return results


def table(results: dict) -> str:
    rows = ["| language | model | search | BLEU-4 | BLEU-1 | chrF | exact % | train CPU min | train wall min |",
            "|---|---|---|---|---|---|---|---|---|"]
    for lang in LANGS:
        for decoder in (d for d in DECODERS if f"{lang}-{d}-beam1" in results["runs"]):
            for beam in (1, 5):
                r = results["runs"][f"{lang}-{decoder}-beam{beam}"]
                cost = f"{r.get('cpu_minutes', float('nan')):.1f} | {r.get('wall_minutes', float('nan')):.1f}" \
                    if beam == 1 else "| "
                rows.append(f"| {lang} | {decoder} | {'greedy' if beam == 1 else 'beam 5'} | {r['bleu4']:.1f} | "
                            f"{r['bleu1']:.1f} | {r['chrf']:.1f} | {r['exact']:.1f} | {cost} |")
            r = results["runs"][f"{lang}-{decoder}-last-beam1"]
            rows.append(f"| {lang} | {decoder}, last checkpoint | greedy | {r['bleu4']:.1f} | {r['bleu1']:.1f} | "
                        f"{r['chrf']:.1f} | {r['exact']:.1f} | | |")
        for name, r in results["peers"][lang].items():
            rows.append(f"| {lang} | {name} | — | {r['bleu4']:.1f} | {r['bleu1']:.1f} | {r['chrf']:.1f} | "
                        f"{r['exact']:.1f} | | |")
    return "\n".join(rows)


def shown(samples: dict, count: int) -> list[int]:
    """``count`` test images of distinct families drawn with a fixed seed (their first images)."""
    first = {}
    for index, group in enumerate(samples["group"]):
        first.setdefault(group, index)
    return sorted(random.Random(0).sample(sorted(first.values()), count))


def sample_figure(results: dict, path: Path, count: int = 12) -> Path:
    """A grid of test images with the attention model's captions (beam 5) and the references."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    en, zh = results["samples"]["en"], results["samples"]["zh"]
    chosen = shown(en, count)
    texts = [[en["attention-beam5"][i], en["reference"][i], zh["attention-beam5"][i], zh["reference"][i]]
             for i in chosen]
    font, labels, _ = drawable_labels([t for row in texts for t in row], [])
    labels = iter(labels)
    figure = Figure(figsize=(12, 10), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(3, 4)
    for axes, index, row in zip(grid.flat, chosen, texts):
        image = read_images([DATA / "images" / en["file"][index]], 64)[0].permute(1, 2, 0).numpy()
        axes.imshow(image)
        axes.set_xticks([])
        axes.set_yticks([])
        en_out, en_ref, zh_out, zh_ref = (next(labels) for _ in row)
        axes.set_xlabel(f"{en_out}\n(ref: {en_ref})\n{zh_out}\n(ref: {zh_ref})", fontsize=9, fontproperties=font)
    figure.suptitle("Held-out emoji families: attention decoder, beam 5 (reference in brackets)")
    figure.savefig(path, dpi=72)
    return path


def attention_figure(out_dir: Path, results: dict, path: Path, count: int = 5) -> Path:
    """Where the English attention model looked for each word of its beam-5 caption, for a few test images."""
    captioner = ImageCaptioner.from_checkpoint(out_dir / "en-attention" / "best")
    samples = results["samples"]["en"]
    chosen = [samples["file"][i] for i in shown(samples, 12)[:count]]
    images = read_images([DATA / "images" / f for f in chosen], captioner.image_size)
    return save_attention_plot([captioner.attend(image, beam_size=5) for image in images], path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/captioning"))
    parser.add_argument("--report-only", action="store_true", help="score the trained runs again, no training")
    parser.add_argument("--train-only", action="store_true", help="train, score later with --report-only")
    parser.add_argument("--decoders", nargs="+", choices=DECODERS, default=list(DECODERS),
                        help="train these (scoring takes every finished run)")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    costs_file = args.out_dir / "costs.json"
    costs = json.loads(costs_file.read_text()) if costs_file.exists() else {}
    if not args.report_only:
        for lang in LANGS:
            for decoder in args.decoders:
                costs[f"{lang}-{decoder}"] = train(args.out_dir, lang, decoder)
                costs_file.write_text(json.dumps(costs, indent=1))
    if args.train_only:
        return
    started = time.process_time()
    results = evaluate(args.out_dir, costs)
    results["scoring_cpu_minutes"] = (time.process_time() - started) / 60
    results["training"] = TRAINING
    results["machine"] = {"python": sys.version.split()[0], "torch": torch.__version__, "cpus": os.cpu_count(),
                          "load_average": os.getloadavg()}
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    RESULTS.mkdir(exist_ok=True)
    scores = {key: value for key, value in results.items() if key != "samples"}
    (RESULTS / "captioning.json").write_text(json.dumps(scores, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(results))
    print(f"most frequent caption: {results['peers']['en']['most frequent caption']['caption']!r} / "
          f"{results['peers']['zh']['most frequent caption']['caption']!r}")
    print(sample_figure(results, RESULTS / "captioning_samples.png"))
    print(attention_figure(args.out_dir, results, RESULTS / "captioning_attention.png"))


if __name__ == "__main__":
    main()
