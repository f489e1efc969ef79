"""``rnnkit train classifier`` and ``rnnkit classify``: one label per text (N -> 1)."""
from __future__ import annotations

import argparse
import sys

from .errors import CommandError
from .flags import add
from .task import TrainTask, format_scores, input_lines, register_predict, register_task, task_checkpoint


def _column(value: str) -> str | int:
    """A CSV column: a header name, or a 0-based index when it is all digits."""
    return int(value) if value.isdigit() else value


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "corpus", required=True, help="reviews-zh, reviews-zh-distinct (each text once: no test text in "
        "training) or a CSV / TSV file")
    data.add_argument("--text-column", type=_column, default="text",
                      help="header name, or 0-based index for a file without a header (then give both as indices)")
    data.add_argument("--label-column", type=_column, default="label", help="header name or 0-based index")
    data.add_argument("--delimiter", help="of a user file (default: tab for .tsv, else comma)")
    add(data, "encoding", "utf-8")
    data.add_argument("--distinct-train", action="store_true",
                      help="train on each training text once, with the label most of its copies carry (texts "
                           "whose copies tie left out); dev and test as they are")
    add(data, "level", "char", help="tokens: characters (Chinese) or whitespace-separated words")
    add(data, "max_len", 200, help="keep the first N tokens of each text")
    add(data, "limit")
    model = parser.add_argument_group("model")
    add(model, "cell", "lstm", choices=("lstm", "gru"))
    model.add_argument("--pooling", choices=["last", "mean", "max", "attention", "concat"], default="max",
                       help="how the outputs over time become one vector (concat: [last; max; mean])")
    add(model, "embed_size", 100)
    add(model, "bigrams", True)
    add(model, "bigram_embed_size", 50)
    add(model, "min_count", 2)
    add(model, "bigram_min_count", 2)
    add(model, "hidden_size", 128)
    add(model, "layers", 1)
    add(model, "bidirectional", True)
    add(model, "dropout", 0.3)
    model.add_argument("--pretrained", metavar="RUN_DIR",
                       help="start from the language model of this `rnnkit train lm` run (ULMFiT): its vocabulary, "
                            "embedding and LSTM/GRU stack, unidirectional; --cell, --embed-size, --hidden-size, "
                            "--layers, --bidirectional and --bigrams do not apply then")
    tuning = parser.add_argument_group("fine-tuning")
    tuning.add_argument("--lr-decay", type=float, default=1.0,
                        help="discriminative learning rates: each layer group down (head, recurrent layers, "
                             "embedding) trains this many times slower; ULMFiT's 2.6 (default: 1, off)")
    tuning.add_argument("--gradual-unfreezing", action="store_true",
                        help="train the head alone in the first epoch, then one layer group more per epoch")
    add(tuning, "select", "loss")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.classification import load_labelled_texts, majority_labels
    from ..data.sequences import BucketBatches, TokenEncoder, split_text
    from ..tasks.classifier import Classifier, ClassifierConfig, classification_examples, classify_tokens
    from ..tasks.plots import plot_confusion
    from ..tasks.scoring import classification_scores, format_confusion
    from ..train.finetune import GradualUnfreezing, discriminative_groups
    from .task import fingerprint

    if not 1.0 <= args.lr_decay < float("inf"):
        raise CommandError(f"--lr-decay: expected a finite factor >= 1, got {args.lr_decay}")
    options = {"text_column": args.text_column, "label_column": args.label_column, "delimiter": args.delimiter,
               "encoding": args.encoding}
    corpus = load_labelled_texts(args.corpus, **options)
    labels = corpus.label_names
    parts = corpus.split()
    if args.distinct_train:
        parts = (majority_labels(parts[0]), *parts[1:])
    train, dev, test = (part[:args.limit] for part in parts) if args.limit else parts
    train, dev, test = ([(split_text(text, args.level)[:args.max_len], label) for text, label in part]
                        for part in (train, dev, test))
    if args.pretrained:
        model, encoder = pretrained_classifier(args, labels)
    else:
        encoder = TokenEncoder.build([tokens for tokens, _ in train], args.level, args.min_count, args.bigrams,
                                     args.bigram_min_count)
        model = Classifier(ClassifierConfig(len(encoder.vocab), tuple(labels),
                                            len(encoder.bigram_vocab) if encoder.bigram_vocab else 0, args.cell,
                                            args.embed_size, args.bigram_embed_size, args.hidden_size, args.layers,
                                            args.bidirectional, args.pooling, args.dropout))
    print(f"{corpus.name}: {len(train)}/{len(dev)}/{len(test)} train/dev/test texts, labels {labels}, "
          f"{len(encoder.vocab)} tokens" + (f", {len(encoder.bigram_vocab)} bigrams" if encoder.bigram_vocab else ""),
          file=sys.stderr)

    data = {name: BucketBatches(classification_examples(encoder, part, labels), args.batch_size,
                                shuffle=name == "train") for name, part in (("train", train), ("dev", dev))}
    metadata = {"task": "classifier", "corpus": corpus.name, "max_len": args.max_len, "encoder": encoder.to_dict()}
    layers = model.layer_groups()
    trainer = run.fit(model, data["train"], data["dev"], metadata, data_hash=fingerprint(train), select=args.select,
                      param_groups=discriminative_groups(layers, args.lr_decay),
                      callbacks=(GradualUnfreezing(layers),) if args.gradual_unfreezing else ())

    predicted = classify_tokens(trainer.model, encoder, [tokens for tokens, _ in test], args.batch_size)
    predicted = predicted.argmax(1).tolist()
    gold = [labels.index(label) for _, label in test]
    scores = classification_scores(gold, predicted, len(labels))
    plot_confusion(scores["confusion"], labels, run.file("confusion.png"), title=f"{corpus.name}: test confusion matrix")
    print(f"test: {format_scores(scores, ['accuracy', 'macro_f1'])}  texts {len(test)}")
    print(format_confusion(scores["confusion"], labels))
    return {"corpus": corpus.name, "texts": len(test), "labels": labels, **scores}


TASK = TrainTask(
    "classifier", help="train an LSTM/GRU text classifier (sentiment, topics)",
    description="Trains token (+ bigram) embeddings, an LSTM/GRU and a pooling layer (last state, mean, max or "
                "attention) on labelled texts, keeps the model with the best dev loss and scores it on the test "
                "split: accuracy, macro-F1, confusion matrix (printed and RUN_DIR/confusion.png). The split is "
                "fixed: 80/10/10 % of the texts, shuffled with seed 0 (rnnkit.data.splits). With --pretrained the "
                "embedding and recurrent stack start from a language model (ULMFiT: fine-tune with --lr-decay "
                "2.6 --gradual-unfreezing --pooling concat).",
    add_flags=add_flags, run=run_train, training={"epochs": 8, "batch_size": 64, "lr": 2e-3, "patience": 3})


def pretrained_classifier(args: argparse.Namespace, labels):
    """``(classifier, token encoder)`` from the language model of ``--pretrained`` (its vocabulary, no bigrams)."""
    from ..data.sequences import TokenEncoder
    from ..tasks.classifier import classifier_from_language_model
    from ..tasks.lm import load_language_model

    try:
        language_model, vocab, _ = load_language_model(args.pretrained)
        if vocab.level != args.level:
            raise ValueError(f"its vocabulary is of {vocab.level}s, --level is {args.level}")
        model = classifier_from_language_model(language_model, labels, args.pooling, args.dropout)
    except ValueError as err:
        raise CommandError(f"--pretrained: {args.pretrained}: {err}") from None
    print(f"encoder: the embedding and {language_model.config.layers} {language_model.config.cell.upper()} "
          f"layer(s) of {args.pretrained}", file=sys.stderr)
    return model, TokenEncoder(vocab)


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    register_predict(commands, "classify", help="classify texts with a trained classifier",
                     description="Prints LABEL, its probability and the text, one line per input text.",
                     inputs=("texts", "TEXT", "texts (default: stdin, a text a line)"), batch_size=64,
                     func=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    from ..data.sequences import TokenEncoder
    from ..tasks.classifier import Classifier, classify_tokens
    from .task import resolve_device

    model, metadata = Classifier.from_checkpoint(task_checkpoint(args.run_dir, "classifier"),
                                                 device=resolve_device(args.device))
    encoder = TokenEncoder.from_dict(metadata["encoder"])
    lines = input_lines(args.texts)
    token_lists = [encoder.split(line)[:metadata["max_len"]] for line in lines]
    probabilities = classify_tokens(model, encoder, token_lists, args.batch_size)
    for line, p in zip(lines, probabilities):
        k = int(p.argmax())
        print(f"{model.config.labels[k]}\t{float(p[k]):.3f}\t{line}")
    return 0
