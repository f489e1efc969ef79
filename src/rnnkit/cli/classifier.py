"""``rnnkit train classifier`` and ``rnnkit classify``: one label per text (N -> 1)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .task_common import (add_training_options, check_limit, fit_best, format_scores, input_lines, task_checkpoint,
                          write_scores)


def _column(value: str) -> str | int:
    """A CSV column: a header name, or a 0-based index when it is all digits."""
    return int(value) if value.isdigit() else value


def register(commands, train_commands) -> None:
    train = train_commands.add_parser(
        "classifier", help="train an LSTM/GRU text classifier (sentiment, topics)",
        description="Trains token (+ bigram) embeddings, an LSTM/GRU and a pooling layer (last state, mean, max or "
                    "attention) on labelled texts, keeps the model with the best dev loss and scores it on the "
                    "test split: accuracy, macro-F1, confusion matrix (printed and RUN_DIR/confusion.png). "
                    "The split is fixed: 80/10/10 %% of the texts, shuffled with seed 0 (rnnkit.data.splits).")
    train.add_argument("--corpus", required=True, help="reviews-zh or a CSV / TSV file")
    train.add_argument("--text-column", type=_column, default="text",
                       help="header name, or 0-based index for a file without a header (then give both as indices)")
    train.add_argument("--label-column", type=_column, default="label")
    train.add_argument("--delimiter", help="of a user file (default: tab for .tsv, else comma)")
    train.add_argument("--encoding", default="utf-8", help="of a user file")
    train.add_argument("--level", choices=["char", "word"], default="char",
                       help="tokens: characters (Chinese, default) or whitespace-separated words")
    train.add_argument("--max-len", type=int, default=200, help="keep the first N tokens of each text")
    train.add_argument("--limit", type=int, help="use only the first N texts of each split (quick runs)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    model.add_argument("--pooling", choices=["last", "mean", "max", "attention"], default="max")
    model.add_argument("--embed-size", type=int, default=100)
    model.add_argument("--bigrams", action=argparse.BooleanOptionalAction, default=True,
                       help="left/right bigram embeddings")
    model.add_argument("--bigram-embed-size", type=int, default=50)
    model.add_argument("--min-count", type=int, default=2, help="rarer tokens read as <unk>")
    model.add_argument("--bigram-min-count", type=int, default=2)
    model.add_argument("--hidden-size", type=int, default=128, help="per direction")
    model.add_argument("--layers", type=int, default=1)
    model.add_argument("--unidirectional", action="store_true")
    model.add_argument("--dropout", type=float, default=0.3)
    add_training_options(train, epochs=8, batch_size=64, lr=2e-3)
    train.set_defaults(func=run_train)

    classify = commands.add_parser(
        "classify", help="classify texts with a trained classifier",
        description="Prints LABEL, its probability and the text, one line per input text.")
    classify.add_argument("run_dir", metavar="RUN_DIR")
    classify.add_argument("texts", nargs="*", metavar="TEXT", help="texts (default: stdin, a text a line)")
    classify.add_argument("--batch-size", type=int, default=64)
    classify.set_defaults(func=run_classify)


def run_train(args: argparse.Namespace) -> int:
    from ..data.classification import load_labelled_texts
    from ..data.sequences import BucketBatches, TokenEncoder, split_text
    from ..tasks.classifier import Classifier, ClassifierConfig, classification_examples, classify_tokens
    from ..tasks.plots import plot_confusion
    from ..tasks.scoring import classification_scores, format_confusion
    from .main import CommandError

    check_limit(args)
    if args.max_len < 1:
        raise CommandError(f"--max-len: expected a positive number of tokens, got {args.max_len}")
    options = {"text_column": args.text_column, "label_column": args.label_column, "delimiter": args.delimiter,
               "encoding": args.encoding}
    corpus = load_labelled_texts(args.corpus, **options)
    labels = corpus.label_names
    parts = corpus.split()
    train, dev, test = (part[:args.limit] for part in parts) if args.limit else parts
    train, dev, test = ([(split_text(text, args.level)[:args.max_len], label) for text, label in part]
                        for part in (train, dev, test))
    encoder = TokenEncoder.build([tokens for tokens, _ in train], args.level, args.min_count, args.bigrams,
                                 args.bigram_min_count)
    config = ClassifierConfig(len(encoder.vocab), tuple(labels),
                              len(encoder.bigram_vocab) if encoder.bigram_vocab else 0, args.cell, args.embed_size,
                              args.bigram_embed_size, args.hidden_size, args.layers, not args.unidirectional,
                              args.pooling, args.dropout)
    print(f"{corpus.name}: {len(train)}/{len(dev)}/{len(test)} train/dev/test texts, labels {labels}, "
          f"{len(encoder.vocab)} tokens" + (f", {len(encoder.bigram_vocab)} bigrams" if args.bigrams else ""),
          file=sys.stderr)

    data = {name: BucketBatches(classification_examples(encoder, part, labels), args.batch_size,
                                shuffle=name == "train") for name, part in (("train", train), ("dev", dev))}
    metadata = {"task": "classifier", "corpus": corpus.name, "max_len": args.max_len, "encoder": encoder.to_dict()}
    trainer = fit_best(Classifier(config), args, data["train"], data["dev"], metadata)

    predicted = classify_tokens(trainer.model, encoder, [tokens for tokens, _ in test], args.batch_size)
    predicted = predicted.argmax(1).tolist()
    gold = [labels.index(label) for _, label in test]
    scores = classification_scores(gold, predicted, len(labels))
    write_scores(args.run_dir, "test_scores", {"corpus": corpus.name, "texts": len(test), "labels": labels, **scores})
    plot_confusion(scores["confusion"], labels, Path(args.run_dir) / "confusion.png",
                   title=f"{corpus.name}: test confusion matrix")
    print(f"test: {format_scores(scores, ['accuracy', 'macro_f1'])}  texts {len(test)}")
    print(format_confusion(scores["confusion"], labels))
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from ..data.sequences import TokenEncoder
    from ..tasks.classifier import Classifier, classify_tokens

    model, metadata = Classifier.from_checkpoint(task_checkpoint(args.run_dir, "classifier"))
    encoder = TokenEncoder.from_dict(metadata["encoder"])
    lines = input_lines(args.texts)
    token_lists = [encoder.split(line)[:metadata["max_len"]] for line in lines]
    probabilities = classify_tokens(model, encoder, token_lists, args.batch_size)
    for line, p in zip(lines, probabilities):
        k = int(p.argmax())
        print(f"{model.config.labels[k]}\t{float(p[k]):.3f}\t{line}")
    return 0
