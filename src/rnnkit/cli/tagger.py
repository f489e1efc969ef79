"""``rnnkit train tagger`` and ``rnnkit tag``: word segmentation, NER and other tagging (N -> N)."""
from __future__ import annotations

import argparse
import sys

from .task_common import (add_training_options, check_limit, fit_best, format_scores, input_lines, task_checkpoint,
                          write_scores)

SPLIT_NOTE = ("The split is fixed: 80/10/10 %% of the sentences, shuffled with seed 0 "
              "(rnnkit.data.splits); pd98-seg and pd98-ner hold the same sentences and split identically.")


def register(commands, train_commands) -> None:
    train = train_commands.add_parser(
        "tagger", help="train a BiLSTM/BiGRU-CRF tagger (segmentation, NER, POS)",
        description="Trains character (+ bigram) embeddings, a bidirectional LSTM/GRU and a CRF (or softmax) on "
                    "a tagged corpus, keeps the model with the best dev loss, and scores it on the test split: "
                    "word P/R/F1 and OOV recall (BMES), entity P/R/F1 (BIO/BIOES) or token accuracy. "
                    + SPLIT_NOTE)
    train.add_argument("--corpus", required=True, help="pd98-seg, pd98-ner, or a CoNLL / word/tag file")
    train.add_argument("--format", dest="file_format", choices=["conll", "word-tag"],
                       help="of a user file (default: guessed)")
    train.add_argument("--encoding", default="utf-8", help="of a user file")
    train.add_argument("--limit", type=int, help="use only the first N sentences of each split (quick runs)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    model.add_argument("--embed-size", type=int, default=100)
    model.add_argument("--bigrams", action=argparse.BooleanOptionalAction, default=None,
                       help="left/right bigram embeddings (default: on for character-level corpora)")
    model.add_argument("--bigram-embed-size", type=int, default=50)
    model.add_argument("--min-count", type=int, default=2, help="rarer tokens read as <unk>")
    model.add_argument("--bigram-min-count", type=int, default=2, help="rarer bigrams read as <unk>")
    model.add_argument("--hidden-size", type=int, default=150, help="per direction")
    model.add_argument("--layers", type=int, default=1)
    model.add_argument("--dropout", type=float, default=0.2)
    model.add_argument("--decoder", choices=["crf", "softmax"], default="crf")
    add_training_options(train, epochs=10, batch_size=32, lr=2e-3)
    train.set_defaults(func=run_train)

    tag = commands.add_parser(
        "tag", help="tag text with a trained tagger: words, entities or tags",
        description="Prints, for each input text, the words (segmentation), the entities as TEXT/TYPE "
                    "(NER) or TOKEN/TAG pairs, one output line per input line.")
    tag.add_argument("run_dir", metavar="RUN_DIR")
    tag.add_argument("texts", nargs="*", metavar="TEXT", help="texts to tag (default: stdin, a sentence a line)")
    tag.add_argument("--batch-size", type=int, default=64)
    tag.set_defaults(func=run_tag)


def run_train(args: argparse.Namespace) -> int:
    from ..data.sequences import BucketBatches, TokenEncoder
    from ..data.tagging import load_tagging_corpus, words_from_bmes
    from ..tasks.scoring import bmes_segmentation_scores, entity_scores, token_accuracy
    from ..tasks.tagger import Tagger, TaggerConfig, tag_sequences, tagging_examples
    from .main import CommandError

    check_limit(args)
    corpus = load_tagging_corpus(args.corpus, args.encoding, args.file_format)
    train, dev, test = (part[:args.limit] for part in corpus.split()) if args.limit else corpus.split()
    if not train or not dev or not test:
        raise CommandError(f"--corpus: {len(corpus.sentences)} sentences are too few for train/dev/test")
    use_bigrams = corpus.level == "char" if args.bigrams is None else args.bigrams
    encoder = TokenEncoder.build([tokens for tokens, _ in train], corpus.level, args.min_count, use_bigrams,
                                 args.bigram_min_count)
    config = TaggerConfig(len(encoder.vocab), tuple(corpus.tags), corpus.scheme,
                          len(encoder.bigram_vocab) if encoder.bigram_vocab else 0, args.cell, args.embed_size,
                          args.bigram_embed_size, args.hidden_size, args.layers, args.dropout, args.decoder)
    print(f"{corpus.name}: {len(train)}/{len(dev)}/{len(test)} train/dev/test sentences, scheme {corpus.scheme}, "
          f"{len(encoder.vocab)} tokens" + (f", {len(encoder.bigram_vocab)} bigrams" if use_bigrams else ""),
          file=sys.stderr)
    data = {name: BucketBatches(tagging_examples(encoder, part, config.tags), args.batch_size, shuffle=name == "train")
            for name, part in (("train", train), ("dev", dev))}
    metadata = {"task": "tagger", "corpus": corpus.name, "scheme": corpus.scheme, "encoder": encoder.to_dict()}
    trainer = fit_best(Tagger(config), args, data["train"], data["dev"], metadata)

    tokens = [t for t, _ in test]
    gold = [tags for _, tags in test]
    predicted = tag_sequences(trainer.model, encoder, tokens, args.batch_size)
    scores = token_accuracy(gold, predicted)
    if corpus.scheme == "bmes":
        train_words = {w for t, tags in train for w in words_from_bmes(t, tags)}
        scores.update(bmes_segmentation_scores(tokens, gold, predicted, train_words))
        keys = ["precision", "recall", "f1", "oov_recall", "oov_rate", "words"]
    elif corpus.scheme in ("bio", "bioes"):
        scores.update(entity_scores(gold, predicted))
        keys = ["precision", "recall", "f1", "entities"] + sorted(k for k in scores if "_" in k and k.endswith("f1"))
    else:
        keys = ["accuracy", "tokens"]
    write_scores(args.run_dir, "test_scores", {"corpus": corpus.name, "sentences": len(test), **scores})
    print(f"test: {format_scores(scores, keys)}")
    return 0


def run_tag(args: argparse.Namespace) -> int:
    from ..data.sequences import TokenEncoder
    from ..data.tagging import entity_spans, words_from_bmes
    from ..tasks.tagger import Tagger, tag_sequences

    model, metadata = Tagger.from_checkpoint(task_checkpoint(args.run_dir, "tagger"))
    encoder = TokenEncoder.from_dict(metadata["encoder"])
    lines = input_lines(args.texts)
    token_lists = [encoder.split(line) for line in lines]
    scheme = model.config.scheme
    for tokens, tags in zip(token_lists, tag_sequences(model, encoder, token_lists, args.batch_size)):
        if scheme == "bmes":
            print(" ".join(words_from_bmes(tokens, tags)))
        elif scheme in ("bio", "bioes"):
            joiner = "" if encoder.vocab.level == "char" else " "
            print(" ".join(f"{joiner.join(tokens[a:b])}/{kind}" for a, b, kind in entity_spans(tags)))
        else:
            print(" ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags)))
    return 0
