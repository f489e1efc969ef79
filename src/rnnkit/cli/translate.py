"""``rnnkit train seq2seq`` and ``rnnkit translate``: encoder–decoder translation of sentence pairs (N -> M)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .task_common import add_training_options, fit_best, format_scores, input_lines, task_checkpoint, write_scores

SPLIT_NOTE = ("The split is fixed: 90/5/5 %% of the pairs (train/dev/test), shuffled with seed 0 "
              "(rnnkit.data.splits).")


def register(commands, train_commands) -> None:
    train = train_commands.add_parser(
        "seq2seq", help="train an encoder-decoder with attention on tab-separated sentence pairs",
        description="Trains an RNN encoder (optionally bidirectional), a bridge to the decoder's initial state and "
                    "an RNN decoder with Bahdanau or Luong attention and input feeding on sentence pairs "
                    "(Tatoeba's format: columns separated by tabs, extra columns ignored), keeps the model with "
                    "the best dev loss and scores its greedy translations of the test split (BLEU, chrF, exact "
                    "match; needs sacrebleu). " + SPLIT_NOTE)
    data = train.add_argument_group("data")
    data.add_argument("--pairs", required=True, help="a tab-separated file of sentence pairs")
    data.add_argument("--src-col", type=int, default=0, help="0-based column of the source (default 0)")
    data.add_argument("--tgt-col", type=int, default=1, help="0-based column of the target (default 1)")
    data.add_argument("--encoding", default="utf-8")
    data.add_argument("--src-level", choices=("char", "word"), default="char",
                      help="source tokens (default char; use char for Chinese)")
    data.add_argument("--tgt-level", choices=("char", "word"), default="word", help="target tokens (default word)")
    data.add_argument("--min-count", type=int, default=1, help="rarer tokens read as <unk> (default 1)")
    data.add_argument("--max-len", type=int, default=50,
                      help="training pairs with a side longer than this many tokens are left out (default 50)")
    data.add_argument("--limit", type=int, help="use only the first N pairs of each split (quick runs)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=("srn", "lstm", "gru"), default="gru")
    model.add_argument("--attention", choices=("bahdanau", "luong-dot", "luong-general", "none"), default="bahdanau")
    model.add_argument("--no-input-feeding", dest="input_feeding", action="store_false",
                       help="do not feed the attentional state into the next decoder step")
    model.add_argument("--embed", type=int, default=256, help="embedding size (default 256)")
    model.add_argument("--hidden", type=int, default=256, help="hidden units per layer and direction (default 256)")
    model.add_argument("--layers", type=int, default=1, help="layers of the encoder and of the decoder (default 1)")
    model.add_argument("--bidirectional", action="store_true", help="a bidirectional encoder")
    model.add_argument("--dropout", type=float, default=0.2)
    model.add_argument("--teacher-forcing", type=float, default=1.0,
                       help="probability of feeding the reference token in training (default 1)")
    model.add_argument("--teacher-forcing-final", type=float, default=None,
                       help="scheduled sampling: the probability reached after --teacher-forcing-steps batches")
    model.add_argument("--teacher-forcing-steps", type=int, default=0)
    add_training_options(train, epochs=10, batch_size=64, lr=2e-3)
    train.add_argument("--minutes", type=float, help="stop after this much training time (sets --max-time)")
    train.add_argument("--beam", type=int, default=1, help="beam width for scoring the test split (default 1)")
    train.set_defaults(func=run_train)

    translate = commands.add_parser(
        "translate", help="translate sentences with a model of `rnnkit train seq2seq`",
        description="Prints one translation per input sentence (the arguments, or stdin a sentence a line).")
    translate.add_argument("run_dir", metavar="RUN_DIR")
    translate.add_argument("sentences", nargs="*", metavar="SENTENCE", help="default: stdin, one a line")
    translate.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    translate.add_argument("--max-len", type=int, default=None, help="at most this many output tokens (default 2S+10)")
    translate.add_argument("--length-penalty", type=float, default=1.0,
                           help="alpha of the beam score sum(log p) / length^alpha (default 1)")
    translate.add_argument("--batch-size", type=int, default=64)
    translate.add_argument("--heatmap", metavar="FILE.png", help="write the attention of the (one) sentence as a PNG")
    translate.add_argument("--device", default="cpu")
    translate.set_defaults(func=run_translate)


def run_train(args: argparse.Namespace) -> int:
    from ..data.pairs import PairBatches, build_vocabulary, encode_pairs, read_pairs
    from ..data.splits import split_items
    from ..tasks.seq2seq import Seq2Seq, Seq2SeqConfig
    from ..tasks.translation import Translator, translation_scores
    from .main import CommandError

    for flag, value in (("--limit", args.limit), ("--max-len", args.max_len), ("--beam", args.beam)):
        if value is not None and value < 1:
            raise CommandError(f"{flag}: expected a positive integer, got {value}")
    if args.minutes is not None:
        if not args.minutes > 0:
            raise CommandError(f"--minutes: expected a positive number, got {args.minutes}")
        args.max_time = 60 * args.minutes
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
    config = Seq2SeqConfig(len(src_vocab), len(tgt_vocab), cell=args.cell, embed_size=args.embed,
                           hidden_size=args.hidden, encoder_layers=args.layers, decoder_layers=args.layers,
                           bidirectional=args.bidirectional, attention=args.attention,
                           input_feeding=args.input_feeding, dropout=args.dropout,
                           teacher_forcing=args.teacher_forcing, teacher_forcing_final=args.teacher_forcing_final,
                           teacher_forcing_steps=args.teacher_forcing_steps)
    print(f"{len(examples)} training pairs ({len(train) - len(examples)} longer than {args.max_len} tokens left "
          f"out), {len(dev)} dev, {len(test)} test; vocabularies: {len(src_vocab)} source {args.src_level}s, "
          f"{len(tgt_vocab)} target {args.tgt_level}s", file=sys.stderr)
    metadata = {"task": "seq2seq", "src_vocab": src_vocab.to_dict(), "tgt_vocab": tgt_vocab.to_dict(),
                "pairs": {"file": str(args.pairs), "src_col": args.src_col, "tgt_col": args.tgt_col}}
    dev_data = PairBatches(encode_pairs(dev, src_vocab, tgt_vocab), args.batch_size, shuffle=False)
    trainer = fit_best(Seq2Seq(config), args, PairBatches(examples, args.batch_size), dev_data, metadata)
    translator = Translator(trainer.model, src_vocab, tgt_vocab)
    hypotheses = translator.translate([s for s, _ in test], beam_size=args.beam)
    scores = translation_scores(hypotheses, [t for _, t in test], tokenize=bleu_tokenizer(args.tgt_level, test))
    scores.update(beam=args.beam, test_pairs=len(test), steps=trainer.step)
    write_scores(args.run_dir, "scores", scores)
    print(f"test ({len(test)} pairs, beam {args.beam}): {format_scores(scores, ['bleu', 'chrf', 'exact'])}")
    for (source, reference), hypothesis in list(zip(test, hypotheses))[:3]:
        print(f"  {source}\n    -> {hypothesis}\n    reference: {reference}")
    print(f"saved in {args.run_dir}; translate with: rnnkit translate {args.run_dir} \"...\"")
    return 0


def bleu_tokenizer(level: str, pairs: list) -> str:
    """sacrebleu's ``zh`` tokeniser for character-level targets in Chinese script, else ``13a``."""
    chinese = any("\u4e00" <= ch <= "\u9fff" for _, target in pairs[:100] for ch in target)
    return "zh" if level == "char" and chinese else "13a"


def run_translate(args: argparse.Namespace) -> int:
    from ..tasks.translation import Translator
    from .main import CommandError

    for flag, value in (("--beam", args.beam), ("--batch-size", args.batch_size), ("--max-len", args.max_len)):
        if value is not None and value < 1:
            raise CommandError(f"{flag}: expected a positive integer, got {value}")
    translator = Translator.from_checkpoint(task_checkpoint(args.run_dir, "seq2seq"), device=args.device)
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
    font, source, target = _labels(alignment.source, alignment.target)
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


def _labels(source: list[str], target: list[str]):
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
