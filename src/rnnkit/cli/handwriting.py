"""``rnnkit train handwriting``, ``rnnkit write`` and ``rnnkit recognize``: pen strokes written and read."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .flags import add, positive_float, positive_int
from .task import TrainTask, register_predict, register_task, task_checkpoint

KANJIVG_NOTE = ("written by a model trained on KanjiVG (copyright Ulrich Apel, CC BY-SA 3.0, "
                "https://kanjivg.tagaini.net)")
HERSHEY_NOTE = "written by a model trained on the Hershey fonts (Hershey-Fonts package, MIT)"
RECOGNIZER = "handwriting-recognizer"
FIGURE_ROWS, FIGURE_SAMPLES = 8, 4
WORD_GAP = 0.8                            # between written words (letters: 0.2), in the normalised box


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "corpus", required=True,
        help="kanjivg (KanjiVG characters), hershey (Latin letters of 8 Hershey fonts), a JSON / JSON-lines file "
             "of {\"label\", \"strokes\"} drawings, or a folder of SVG files")
    data.add_argument("--chars", help="train on these characters only (default: all of the corpus)")
    data.add_argument("--spacing", type=positive_float, default=0.1,
                      help="resample strokes at this arc length (the drawing's larger side is 2)")
    data.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                      help="a fresh random affine map and jitter of every training drawing on every pass")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=["writer", "recognizer"], default="writer",
                       help="writer: strokes from a mixture density RNN (rnnkit write); recognizer: strokes -> "
                            "character (rnnkit recognize)")
    model.add_argument("--conditional", choices=["char", "components", "none"], default="char",
                       help="writer: char feeds the character's embedding at every step; components reads the "
                            "character's components through a sliding window (it can write unseen characters "
                            "made of seen components); none writes freely")
    model.add_argument("--mixtures", type=positive_int, default=20, help="writer: Gaussian components M")
    add(model, "cell", "lstm", choices=("lstm", "gru"))
    add(model, "hidden_size", 256)
    add(model, "layers", 2)
    add(model, "embed_size", 32)
    add(model, "dropout", 0.0)


def run_train(args: argparse.Namespace, run) -> dict:
    import numpy as np

    from ..data.stroke_corpora import load_drawings
    from ..data.strokes import Augment, StrokeBatches, normalize, resample, to_offsets
    from .task import fingerprint

    drawings = load_drawings(args.corpus, args.chars)
    if args.model == "recognizer":
        drawings = [normalize(d) for d in drawings]
    drawings = [resample(d, args.spacing) for d in drawings]
    labels = tuple(dict.fromkeys(d.label for d in drawings))
    index = {label: k for k, label in enumerate(labels)}
    ids = [index[d.label] for d in drawings]
    scale = float(f"{np.concatenate([to_offsets(d)[:, :2] for d in drawings]).std():.3g}")
    augment = Augment()
    held_out = {name: [augment(d, np.random.default_rng(seed)) for d in drawings] for name, seed in (("dev", 1),
                                                                                                    ("test", 2))}
    sets = {"train": StrokeBatches(drawings, ids, args.batch_size, augment=augment if args.augment else None),
            **{name: StrokeBatches(part, ids, args.batch_size, shuffle=False) for name, part in held_out.items()}}
    print(f"{args.corpus}: {len(drawings)} drawings of {len(labels)} labels, "
          f"{np.mean([d.points for d in drawings]):.0f} points on average; offset scale {scale}", file=sys.stderr)
    metadata = {"task": RECOGNIZER if args.model == "recognizer" else "handwriting", "corpus": str(args.corpus),
                "max_points": int(1.5 * max(d.points for d in drawings)) + 10,
                "note": {"kanjivg": KANJIVG_NOTE, "hershey": HERSHEY_NOTE}.get(args.corpus)}
    model = _recognizer(args, labels, scale) if args.model == "recognizer" else _writer(args, drawings, labels, scale)
    data_hash = fingerprint([[d.label, [s.tolist() for s in d.strokes]] for d in drawings])
    trainer = run.fit(model, sets["train"], sets["dev"], metadata, data_hash=data_hash)
    scores = {"corpus": str(args.corpus), "drawings": len(drawings), "labels": len(labels), "model": args.model,
              **trainer.evaluate(sets["test"])}
    if args.model == "recognizer":
        from ..tasks.handwriting_recognizer import recognize, top_k_accuracy

        probabilities = recognize(trainer.model, held_out["test"], args.batch_size)
        scores.update(top1=top_k_accuracy(probabilities, ids, 1), top5=top_k_accuracy(probabilities, ids, 5))
        print(f"test: top-1 {scores['top1']:.4f}  top-5 {scores['top5']:.4f}  drawings {len(ids)}")
    else:
        figure = _sample_figure(trainer.model, drawings, metadata["max_points"], args.seed)
        figure.save(run.file("samples.png"))
        print(f"test: {scores['loss']:.4f} nats per point (offsets {scores['offset_nll']:.4f}, pen "
              f"{scores['pen_nll']:.4f}); samples: {run.path / 'samples.png'}")
    return scores


def _writer(args: argparse.Namespace, drawings, labels: tuple[str, ...], scale: float):
    from ..tasks.handwriting import Writer, WriterConfig
    from ..tasks.handwriting_components import ComponentWriter, ComponentWriterConfig, parts_of

    if args.conditional == "components":
        parts = {d.label: parts_of(d) for d in drawings}
        return ComponentWriter(ComponentWriterConfig(labels, tuple(parts[c] for c in labels), args.mixtures, args.cell,
                                                     args.hidden_size, args.embed_size, dropout=args.dropout,
                                                     offset_scale=scale, spacing=args.spacing))
    return Writer(WriterConfig(labels if args.conditional == "char" else (), args.conditional, args.mixtures,
                               args.cell, args.hidden_size, args.layers, args.embed_size, args.dropout, scale,
                               args.spacing))


def _recognizer(args: argparse.Namespace, labels: tuple[str, ...], scale: float):
    from ..tasks.handwriting_recognizer import Recognizer, RecognizerConfig

    return Recognizer(RecognizerConfig(labels, args.cell, args.hidden_size, args.layers, args.dropout, scale,
                                       args.spacing))


def _sample_figure(model, drawings, max_points: int, seed: int):
    """A grid: per row a training drawing, then samples of its character at temperature 0.5
    (a free writer: rows of free samples)."""
    import torch

    from ..data.stroke_render import grid
    from ..tasks.handwriting import write

    generator = torch.Generator().manual_seed(seed)
    originals = list({d.label: d for d in drawings}.values())[:FIGURE_ROWS]
    if getattr(model.config, "conditional", None) == "none":
        free = write(model, None, len(originals) * FIGURE_SAMPLES, 0.5, max_points, generator)
        return grid([free[i:i + FIGURE_SAMPLES] for i in range(0, len(free), FIGURE_SAMPLES)])
    written = write(model, [d.label for d in originals for _ in range(FIGURE_SAMPLES)], 1, 0.5, max_points, generator)
    return grid([[d, *written[i * FIGURE_SAMPLES:(i + 1) * FIGURE_SAMPLES]] for i, d in enumerate(originals)])


TASK = TrainTask(
    "handwriting", help="train a handwriting writer (mixture density RNN) or an online handwriting recogniser",
    description="Pen strokes (KanjiVG characters, Hershey letters or your own drawings), normalised and resampled "
                "at equal arc length. --model writer trains an LSTM/GRU stack with a mixture of bivariate Gaussians "
                "over the next pen offset and a pen-state softmax (Graves 2013), conditioned on the character "
                "(--conditional char) or free; it is scored in nats per point and draws RUN_DIR/samples.png. "
                "--model recognizer trains a bidirectional LSTM/GRU that reads a drawing and names its character "
                "(top-1 / top-5). Dev and test sets are fixed random affine copies of every drawing (seeds 1 and 2).",
    add_flags=add_flags, run=run_train,
    training={"epochs": 1000, "max_steps": 2000, "batch_size": 32, "lr": 2e-3, "schedule": "cosine"})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    write = register_predict(
        commands, "write", help="write characters with a trained handwriting writer",
        description="Samples pen strokes point by point from the writer's mixture density output and writes them "
                    "as PNG, SVG, an animated GIF of the pen moving, or JSON strokes (the default: one JSON object "
                    "a line on stdout). Several characters are written one after another, left to right.",
        inputs=("texts", "TEXT", "the characters to write (a char-conditional writer); several texts, several "
                                 "drawings"), func=run_write)
    write.add_argument("--out", metavar="FILE", help="a .png, .svg, .gif or .json file; several drawings go to "
                                                     "FILE-1.png, FILE-2.png, ... (default: JSON on stdout)")
    add(write, "temperature", 0.5, help="sampling temperature of the mixture weights, the Gaussians' spread and the "
                                        "pen state (→ 0: the most likely strokes)")
    write.add_argument("--samples", type=positive_int, default=1, help="drawings per text (or free drawings)")
    write.add_argument("--free", action="store_true", help="write freely (a writer trained with --conditional none)")
    add(write, "length", help="at most this many points per character (default: 1.5 x the longest training drawing)")
    add(write, "seed", 0)
    recognize = register_predict(
        commands, "recognize", help="name the characters of drawings with a trained handwriting recogniser",
        description="Reads drawings (.svg: every <path>, <polyline> and <line> a stroke; .json: [[[x, y], ...], ...] "
                    "or {\"strokes\": ...}) and prints FILE, the most probable character and its probability, then "
                    "the other candidates.",
        inputs=("files", "FILE", "drawings (.svg or .json)"), batch_size=64, func=run_recognize)
    recognize.add_argument("--candidates", type=positive_int, default=5, help="characters listed per drawing")


def run_write(args: argparse.Namespace) -> int:
    import torch

    from ..data.stroke_render import save_drawing
    from ..data.strokes import layout
    from ..tasks.handwriting import write
    from ..tasks.handwriting_components import load_writer
    from .errors import CommandError
    from .task import resolve_device

    model, metadata = load_writer(task_checkpoint(args.run_dir, "handwriting"), device=resolve_device(args.device))
    free = getattr(model.config, "conditional", None) == "none"
    if free != args.free:
        raise CommandError("--free: this writer was trained with --conditional none: give --free and no TEXT"
                           if free else "--free: this writer writes given characters: give TEXT instead")
    if args.free and args.texts:
        raise CommandError("TEXT: --free writes without text; give one or the other")
    if not args.free and not [t for t in args.texts if t.strip()]:
        raise CommandError("TEXT: expected the characters to write")
    generator = torch.Generator().manual_seed(args.seed)
    max_points = args.length or metadata.get("max_points", 300)
    if args.free:
        drawings = write(model, None, args.samples, args.temperature, max_points, generator)
    else:
        texts = [t for t in args.texts if t.strip()]
        chars = [c for t in texts for _ in range(args.samples) for c in t if not c.isspace()]
        letters = iter(write(model, chars, 1, args.temperature, max_points, generator, _parts(model, metadata, chars)))
        drawings = [layout([layout([next(letters) for _ in word]) for word in t.split()], WORD_GAP, " ")
                    for t in texts for _ in range(args.samples)]
    note = metadata.get("note")
    if args.out is None:
        for d in drawings:
            print(json.dumps({"label": d.label, "strokes": [[[round(x, 4), round(y, 4)] for x, y in s.tolist()]
                                                            for s in d.strokes]}, ensure_ascii=False))
        return 0
    out = Path(args.out)
    paths = [out] if len(drawings) == 1 else [out.with_name(f"{out.stem}-{k}{out.suffix}")
                                              for k in range(1, len(drawings) + 1)]
    for d, path in zip(drawings, paths):
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps({"label": d.label, "strokes": [s.tolist() for s in d.strokes],
                                        **({"note": note} if note else {})}, ensure_ascii=False), encoding="utf-8")
        else:
            save_drawing(d, path, note=note, aspect=max(1, len(d.label or "")))
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _parts(model, metadata: dict, chars: list[str]) -> dict | None:
    """The KanjiVG components of the characters a components-conditional writer was not trained on."""
    unseen = "".join(dict.fromkeys(c for c in chars if c not in model.config.labels))
    if not unseen or not hasattr(model.config, "parts") or metadata.get("corpus") != "kanjivg":
        return None
    from ..data.stroke_corpora import kanjivg
    from ..tasks.handwriting_components import parts_of

    try:
        return {d.label: parts_of(d) for d in kanjivg(unseen)}
    except ValueError:
        return None


def run_recognize(args: argparse.Namespace) -> int:
    from ..data.stroke_files import read_drawing
    from ..tasks.handwriting_recognizer import Recognizer, recognize
    from .errors import CommandError
    from .task import resolve_device

    if not args.files:
        raise CommandError("FILE: expected at least one drawing (.svg or .json) to recognize")
    drawings = [read_drawing(path) for path in args.files]
    model, _ = Recognizer.from_checkpoint(task_checkpoint(args.run_dir, RECOGNIZER), device=resolve_device(args.device))
    probabilities = recognize(model, drawings, args.batch_size)
    labels = model.config.labels
    for path, p in zip(args.files, probabilities):
        top = p.topk(min(args.candidates, len(labels)))
        ranked = [(labels[int(k)], float(v)) for v, k in zip(top.values, top.indices)]
        others = "  ".join(f"{c} {v:.3f}" for c, v in ranked[1:])
        print(f"{path}\t{ranked[0][0]}\t{ranked[0][1]:.3f}" + (f"\t{others}" if others else ""))
    return 0
