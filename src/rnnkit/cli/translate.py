"""``rnnkit train seq2seq`` and ``rnnkit translate``: encoder–decoder translation of sentence pairs (N -> M)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import add, count, nonnegative_float, probability, require
from .task import TrainTask, format_scores, input_lines, register_predict, register_task, task_checkpoint

SPLIT_NOTE = ("The split is fixed: 90/5/5 % of the pairs (train/dev/test), shuffled with seed 0 "
              "(rnnkit.data.splits).")


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    require(data.add_argument("--pairs", help="a tab-separated file of sentence pairs"))
    data.add_argument("--src-col", type=count, default=0, help="0-based column of the source")
    data.add_argument("--tgt-col", type=count, default=1, help="0-based column of the target")
    add(data, "encoding", "utf-8")
    data.add_argument("--src-level", choices=("char", "word"), default="char",
                      help="source tokens (use char for Chinese)")
    data.add_argument("--tgt-level", choices=("char", "word"), default="word", help="target tokens")
    add(data, "min_count", 1)
    add(data, "max_len", 50, help="training pairs with a side longer than this many tokens are left out")
    add(data, "limit")
    model = parser.add_argument_group("model")
    add(model, "cell", "gru", choices=("srn", "lstm", "gru"))
    model.add_argument("--attention", choices=("bahdanau", "luong-dot", "luong-general", "none"), default="bahdanau",
                       help="the decoder's attention over the encoder outputs")
    model.add_argument("--no-input-feeding", dest="input_feeding", action="store_false",
                       help="do not feed the attentional state into the next decoder step")
    add(model, "embed_size", 256)
    add(model, "hidden_size", 256)
    add(model, "layers", 1, help="layers of the encoder and of the decoder")
    add(model, "bidirectional", False, help="a bidirectional encoder")
    add(model, "dropout", 0.2)
    add(model, "label_smoothing", 0.0)
    model.add_argument("--teacher-forcing", type=probability, default=1.0,
                       help="probability of feeding the reference token in training")
    model.add_argument("--teacher-forcing-final", type=probability, default=None,
                       help="scheduled sampling: the probability reached after --teacher-forcing-steps batches")
    model.add_argument("--teacher-forcing-steps", type=count, default=0,
                       help="batches over which the teacher-forcing probability moves to its final value")
    add(parser, "beam", 1, help="beam width for scoring the test split (1: greedy)")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.pairs import PairBatches, build_vocabulary, encode_pairs, read_pairs
    from ..data.splits import split_items
    from ..tasks.seq2seq import Seq2Seq, Seq2SeqConfig
    from ..tasks.translation import Translator, translation_scores
    from .errors import CommandError
    from .task import fingerprint

    pairs = read_pairs(args.pairs, args.src_col, args.tgt_col, args.encoding)
    if len(pairs) < 3:
        raise CommandError(f"--pairs: {args.pairs} holds {len(pairs)} pairs; expected at least 3 (train/dev/test)")
    train, dev, test = (part[:args.limit] if args.limit else part
                        for part in split_items(pairs, seed=0, dev=0.05, test=0.05))
    src_vocab = build_vocabulary([s for s, _ in train], args.src_level, args.min_count)
    tgt_vocab = build_vocabulary([t for _, t in train], args.tgt_level, args.min_count)
    examples = encode_pairs(train, src_vocab, tgt_vocab, args.max_len, args.max_len)
    if not examples:
        raise CommandError(f"--max-len: no training pair has both sides within {args.max_len} tokens")
    config = Seq2SeqConfig(len(src_vocab), len(tgt_vocab), cell=args.cell, embed_size=args.embed_size,
                           hidden_size=args.hidden_size, encoder_layers=args.layers, decoder_layers=args.layers,
                           bidirectional=args.bidirectional, attention=args.attention,
                           input_feeding=args.input_feeding, dropout=args.dropout,
                           label_smoothing=args.label_smoothing,
                           teacher_forcing=args.teacher_forcing, teacher_forcing_final=args.teacher_forcing_final,
                           teacher_forcing_steps=args.teacher_forcing_steps)
    print(f"{len(examples)} training pairs ({len(train) - len(examples)} longer than {args.max_len} tokens left "
          f"out), {len(dev)} dev, {len(test)} test; vocabularies: {len(src_vocab)} source {args.src_level}s, "
          f"{len(tgt_vocab)} target {args.tgt_level}s", file=sys.stderr)
    metadata = {"task": "seq2seq", "src_vocab": src_vocab.to_dict(), "tgt_vocab": tgt_vocab.to_dict(),
                "pairs": {"file": str(args.pairs), "src_col": args.src_col, "tgt_col": args.tgt_col}}
    dev_data = PairBatches(encode_pairs(dev, src_vocab, tgt_vocab), args.batch_size, shuffle=False)
    trainer = run.fit(Seq2Seq(config), PairBatches(examples, args.batch_size), dev_data, metadata,
                      data_hash=fingerprint(train))
    translator = Translator(trainer.model, src_vocab, tgt_vocab)
    hypotheses = translator.translate([s for s, _ in test], beam_size=args.beam)
    scores = translation_scores(hypotheses, [t for _, t in test], tokenize=bleu_tokenizer(args.tgt_level, test))
    scores.update(beam=args.beam, test_pairs=len(test), steps=trainer.step)
    print(f"test ({len(test)} pairs, beam {args.beam}): {format_scores(scores, ['bleu', 'chrf', 'exact'])}")
    for (source, reference), hypothesis in list(zip(test, hypotheses))[:3]:
        print(f"  {source}\n    -> {hypothesis}\n    reference: {reference}")
    print(f"saved in {args.run_dir}; translate with: rnnkit translate {args.run_dir} \"...\"")
    return scores


TASK = TrainTask(
    "seq2seq", help="train an encoder-decoder with attention on tab-separated sentence pairs",
    description="Trains an RNN encoder (optionally bidirectional), a bridge to the decoder's initial state and an "
                "RNN decoder with Bahdanau or Luong attention and input feeding on sentence pairs (Tatoeba's "
                "format: columns separated by tabs, extra columns ignored), keeps the model with the best dev loss "
                "and scores its translations of the test split (BLEU, chrF, exact match; needs sacrebleu). "
                + SPLIT_NOTE,
    add_flags=add_flags, run=run_train, training={"epochs": 10, "batch_size": 64, "lr": 2e-3, "patience": 3})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    translate = register_predict(
        commands, "translate", help="translate sentences with a model of `rnnkit train seq2seq`",
        description="Prints one translation per input sentence (the arguments, or stdin a sentence a line).",
        inputs=("sentences", "SENTENCE", "default: stdin, one a line"), batch_size=64, func=run_translate)
    add(translate, "beam", 1)
    add(translate, "max_len", help="at most this many output tokens (default: twice the source length + 10)")
    translate.add_argument("--length-penalty", type=nonnegative_float, default=1.0,
                           help="alpha of the beam score sum(log p) / length^alpha")
    translate.add_argument("--heatmap", metavar="FILE.png", help="write the attention of the (one) sentence as a PNG")


def bleu_tokenizer(level: str, pairs: list) -> str:
    """sacrebleu's ``zh`` tokeniser for character-level targets in Chinese script, else ``13a``."""
    chinese = any("\u4e00" <= ch <= "\u9fff" for _, target in pairs[:100] for ch in target)
    return "zh" if level == "char" and chinese else "13a"


def run_translate(args: argparse.Namespace) -> int:
    from ..tasks.translation import Translator
    from .errors import CommandError
    from .task import resolve_device

    translator = Translator.from_checkpoint(task_checkpoint(args.run_dir, "seq2seq"), device=resolve_device(args.device))
    lines = input_lines(args.sentences)
    options = {"beam_size": args.beam, "max_len": args.max_len, "length_penalty": args.length_penalty}
    if args.heatmap:
        sentences = [line for line in lines if line.strip()]
        if len(sentences) != 1:
            raise CommandError(f"--heatmap: expected exactly one sentence to draw, got {len(sentences)}")
        alignment = translator.align(sentences[0], **options)
        print(alignment.translation)
        print(f"attention heatmap: {save_heatmap(alignment, args.heatmap)}", file=sys.stderr)
        return 0
    filled = [i for i, line in enumerate(lines) if line.strip()]
    outputs = translator.translate([lines[i] for i in filled], batch_size=args.batch_size, **options) if filled else []
    translations = dict(zip(filled, outputs))
    for i in range(len(lines)):
        print(translations.get(i, ""))
    return 0


def save_heatmap(alignment, path: str) -> Path:
    """Draws ``alignment.weights`` (rows: output tokens, columns: source tokens) into a PNG.

    Tokens that no installed font can draw (e.g. Chinese without a CJK font) are labelled by
    their code points, ``U+4F60``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ValueError("--heatmap needs matplotlib: pip install 'rnnkit[train]'") from err
    font, source, target = drawable_labels(alignment.source, alignment.target)
    weights = alignment.weights.numpy()                                            # (T', S)
    figure = Figure(figsize=(max(4.0, 0.45 * len(source) + 2), max(3.0, 0.4 * len(target) + 1.5)),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(len(source)), source, fontproperties=font, rotation=90 if font is None else 0)
    axes.set_yticks(range(len(target)), target, fontproperties=font)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    figure.colorbar(image, ax=axes, label="attention weight")
    figure.savefig(path, dpi=100)
    return Path(path)


def drawable_labels(source: list[str], target: list[str]):
    """``(font or None, source labels, target labels)``: a font that draws every token, else the
    default font with undrawable characters replaced by their code points."""
    from matplotlib import font_manager, ft2font

    needed = {ord(ch) for token in source + target for ch in token}
    default = font_manager.findfont(font_manager.FontProperties())
    paths = [default, *sorted({entry.fname for entry in font_manager.fontManager.ttflist
                               if "lastresort" not in entry.fname.lower()} - {default})]   # boxes for every glyph
    charmaps = {}
    for path in paths:
        try:
            charmaps[path] = ft2font.FT2Font(path).get_charmap()
        except (OSError, RuntimeError):
            continue
        if needed <= charmaps[path].keys():
            return font_manager.FontProperties(fname=path), source, target
    drawable = charmaps.get(default, {})

    def label(token: str) -> str:
        return "".join(ch if ord(ch) in drawable else f"U+{ord(ch):04X}" for ch in token)

    return None, [label(t) for t in source], [label(t) for t in target]
