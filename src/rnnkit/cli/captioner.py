"""``rnnkit train captioner`` and ``rnnkit caption``: image captioning (1 -> N), CNN encoder + RNN decoder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import add, count, nonnegative_float, positive_int, require
from .task import TrainTask, format_scores, input_lines, register_predict, register_task, task_checkpoint

SPLIT_NOTE = ("The split is fixed: 80/10/10 % of the images (train/dev/test) shuffled with seed 0, whole families "
              "at a time with --split-by (rnnkit.data.captions.split_by_group).")


def channels(text: str) -> str:
    """``--channels``: comma-separated positive integers, kept as text (``config.toml`` stores it so)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, one per CNN block "
                                         f"(e.g. 32,64,128,256), got {text!r}")
    return ",".join(map(str, values))


def channel_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    require(data.add_argument("--images", metavar="DIR", help="the folder of the images"))
    require(data.add_argument("--captions", metavar="FILE",
                              help="captions: a TSV with a header (columns file, caption or LANG_caption; several "
                                   "rows per image allowed) or a JSON list of {\"file\", \"caption\"} objects"))
    data.add_argument("--lang", choices=("en", "zh"), default="en",
                      help="the captions' language: reads column LANG_caption when present; English by words, "
                           "Chinese by characters")
    data.add_argument("--split-by", metavar="COLUMN",
                      help="keep the images whose COLUMN agrees in one split (skin-tone modifiers and variation "
                           "selectors ignored: every skin tone of an emoji is one family); default: each image alone")
    add(data, "encoding", "utf-8")
    add(data, "min_count", 1)
    add(data, "limit")
    data.add_argument("--image-size", type=positive_int, default=64, help="images are resized to this many pixels a side")
    data.add_argument("--shift", type=count, default=4,
                      help="augmentation: training images move by up to this many pixels (0: off)")
    model = parser.add_argument_group("model")
    model.add_argument("--decoder", choices=("step1", "init", "attention"), default="attention",
                       help="how the image enters the decoder: V X at step 1 (the textbook), the initial state "
                            "(Show and Tell), or soft attention over the CNN grid at every step (Show, Attend and Tell)")
    add(model, "cell", "lstm", choices=("srn", "lstm", "gru"))
    add(model, "embed_size", 128)
    add(model, "hidden_size", 256)
    model.add_argument("--feature-size", type=positive_int, default=256, help="F, the CNN's global feature vector X")
    model.add_argument("--channels", type=channels, default="32,64,128,256",
                       help="the CNN's conv-BN-ReLU-pool blocks (the image size must be divisible by 2**blocks)")
    add(model, "dropout", 0.3)
    add(parser, "beam", 1, help="beam width for captioning the test split (1: greedy)")
    add(parser, "max_len", 30, help="at most this many tokens per generated caption")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.captions import CaptionBatches, LEVELS, encode_captions, read_captions, split_by_group
    from ..data.images import pixel_statistics, read_images
    from ..data.pairs import build_vocabulary
    from ..tasks.captioner import Captioner, CaptionerConfig
    from ..tasks.captioning import ImageCaptioner, caption_scores
    from .errors import CommandError
    from .task import fingerprint

    items = read_captions(args.captions, args.images, args.lang, args.split_by, args.encoding)
    if len(items) < 3:
        raise CommandError(f"--captions: {args.captions} captions {len(items)} images; expected at least 3 "
                           "(train/dev/test)")
    train, dev, test = (part[:args.limit] if args.limit else part for part in split_by_group(items))
    blocks = channel_sizes(args.channels)
    if args.image_size % 2 ** len(blocks):
        raise CommandError(f"--image-size: expected a multiple of {2 ** len(blocks)} "
                           f"({len(blocks)} pooling blocks in --channels), got {args.image_size}")
    level = LEVELS[args.lang]
    vocab = build_vocabulary([c for item in train for c in item.captions], level, args.min_count)
    folder = Path(args.images)
    pictures = [read_images([folder / item.file for item in part], args.image_size) for part in (train, dev, test)]
    mean, std = pixel_statistics(pictures[0])
    config = CaptionerConfig(len(vocab), decoder=args.decoder, cell=args.cell, embed_size=args.embed_size,
                             hidden_size=args.hidden_size, feature_size=args.feature_size, channels=blocks,
                             image_size=args.image_size, pixel_mean=mean, pixel_std=std, dropout=args.dropout)
    print(f"{len(train)} training images ({sum(len(i.captions) for i in train)} captions), {len(dev)} dev, "
          f"{len(test)} test; vocabulary: {len(vocab)} {level}s", file=sys.stderr)
    metadata = {"task": "captioner", "vocabulary": vocab.to_dict(),
                "captions": {"file": str(args.captions), "images": str(args.images), "lang": args.lang}}
    train_data = CaptionBatches(pictures[0], encode_captions(train, vocab), args.batch_size, shift=args.shift)
    dev_data = CaptionBatches(pictures[1], encode_captions(dev, vocab), args.batch_size, shuffle=False)
    trainer = run.fit(Captioner(config), train_data, dev_data, metadata,
                      data_hash=fingerprint([(i.file, i.captions) for i in train]))
    captioner = ImageCaptioner(trainer.model, vocab)
    hypotheses = captioner.caption_images(pictures[2], beam_size=args.beam, max_len=args.max_len)
    references = [list(item.captions) for item in test]
    scores = caption_scores(hypotheses, references, level)
    scores.update(beam=args.beam, test_images=len(test), steps=trainer.step)
    with open(run.file("test_captions.tsv"), "w", encoding="utf-8") as out:
        out.write("file\tcaption\treference\n")
        out.writelines(f"{item.file}\t{h}\t{' | '.join(item.captions)}\n" for item, h in zip(test, hypotheses))
    print(f"test ({len(test)} images, beam {args.beam}): {format_scores(scores, ['bleu4', 'bleu1', 'chrf', 'exact'])}")
    for item, hypothesis in list(zip(test, hypotheses))[:3]:
        print(f"  {item.file}\n    -> {hypothesis}\n    reference: {item.captions[0]}")
    print(f"saved in {args.run_dir}; caption with: rnnkit caption {args.run_dir} IMAGE.png")
    return scores


TASK = TrainTask(
    "captioner", help="train an image captioner (CNN encoder, RNN decoder) on a folder of images and captions",
    description="Trains a small CNN (conv-BN-ReLU-pool blocks, from scratch) and a recurrent decoder that reads "
                "the image once at step 1 (the textbook's h_1 = f(U x_1 + W h_0 + V X)), as its initial state, or "
                "through soft attention over the CNN's grid at every step; keeps the model with the best dev loss "
                "and scores its captions of the test split (BLEU-4, BLEU-1, chrF, exact match; needs sacrebleu "
                "and Pillow). " + SPLIT_NOTE,
    add_flags=add_flags, run=run_train, training={"epochs": 30, "batch_size": 32, "lr": 2e-3, "patience": 5})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    caption = register_predict(
        commands, "caption", help="caption images with a model of `rnnkit train captioner`",
        description="Prints one caption per image (the arguments, or stdin a path a line).",
        inputs=("images", "IMAGE", "image files (default: stdin, one path a line)"), batch_size=64,
        func=run_caption)
    add(caption, "beam", 1)
    add(caption, "max_len", 30, help="at most this many tokens per caption")
    caption.add_argument("--length-penalty", type=nonnegative_float, default=1.0,
                         help="alpha of the beam score sum(log p) / length^alpha")
    caption.add_argument("--attention-plot", metavar="FILE.png",
                         help="draw where the attention decoder looked for each word, a row per image, as a PNG")


def run_caption(args: argparse.Namespace) -> int:
    from ..data.images import read_images
    from ..tasks.captioning import ImageCaptioner
    from .errors import CommandError
    from .task import resolve_device

    captioner = ImageCaptioner.from_checkpoint(task_checkpoint(args.run_dir, "captioner"),
                                               device=resolve_device(args.device))
    paths = [line for line in input_lines(args.images) if line.strip()]
    if not paths:
        raise CommandError("IMAGE: expected at least one image file")
    options = {"beam_size": args.beam, "max_len": args.max_len, "length_penalty": args.length_penalty}
    images = read_images(paths, captioner.image_size)
    if args.attention_plot:
        if captioner.model.attention is None:
            raise CommandError(f"--attention-plot: the model's decoder is {captioner.model.config.decoder!r}; "
                               "only the attention decoder has maps to draw")
        shown = [captioner.attend(image, **options) for image in images]
        for result in shown:
            print(result.caption)
        print(f"attention plot: {save_attention_plot(shown, args.attention_plot)}", file=sys.stderr)
        return 0
    for caption in captioner.caption_images(images, batch_size=args.batch_size, **options):
        print(caption)
    return 0


def save_attention_plot(results: list, path: str | Path) -> Path:
    """Draws each :class:`~rnnkit.tasks.captioning.CaptionAttention` as a row: the image, then the image
    under each word's attention map (upsampled to the image, brighter = more weight).

    Words no installed font can draw (Chinese without a CJK font) are labelled by code point.
    """
    import torch.nn.functional as F
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ValueError("--attention-plot needs matplotlib: pip install 'rnnkit[train]'") from err
    from .translate import drawable_labels

    font, labels, _ = drawable_labels([token for result in results for token in result.tokens], [])
    columns = 1 + max(len(result.tokens) for result in results)
    figure = Figure(figsize=(1.3 * columns, 1.45 * len(results)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(results), columns, squeeze=False)
    labels = iter(labels)
    for row, result in enumerate(results):
        picture = result.image.permute(1, 2, 0).numpy()                            # (S, S, 3)
        maps = F.interpolate(result.weights[:, None], size=picture.shape[:2], mode="bilinear",
                             align_corners=False)[:, 0]                            # (T', S, S)
        for column, axes in enumerate(grid[row]):
            axes.axis("off")
            if column == 0:
                axes.imshow(picture)
            elif column <= len(result.tokens):
                weights = maps[column - 1]
                axes.imshow(picture)
                axes.imshow((weights / weights.max()).numpy(), cmap="gray", alpha=0.6, vmin=0.0, vmax=1.0)
                axes.set_title(next(labels), fontsize=8, fontproperties=font)
    figure.savefig(path, dpi=100)
    return Path(path)
