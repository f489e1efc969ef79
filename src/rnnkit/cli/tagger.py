"""``rnnkit train tagger`` and ``rnnkit tag``: word segmentation, NER and other tagging (N -> N)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import add
from .task import TrainTask, format_scores, input_lines, register_predict, register_task, task_checkpoint

SPLIT_NOTE = ("The split is fixed: 80/10/10 % of the sentences, shuffled with seed 0 "
              "(rnnkit.data.splits); pd98-seg and pd98-ner hold the same sentences and split identically.")


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "corpus", required=True, help="pd98-seg, pd98-ner, or a CoNLL / word/tag file")
    data.add_argument("--format", dest="file_format", choices=["conll", "word-tag"],
                      help="of a user file (default: guessed)")
    add(data, "encoding", "utf-8")
    add(data, "limit")
    model = parser.add_argument_group("model")
    add(model, "cell", "lstm", choices=("lstm", "gru"))
    add(model, "embed_size", 100)
    add(model, "bigrams", help="left/right bigram embeddings (default: on for character-level corpora)")
    add(model, "bigram_embed_size", 50)
    add(model, "min_count", 2)
    add(model, "bigram_min_count", 2)
    model.add_argument("--normalize", action=argparse.BooleanOptionalAction,
                       help="read characters in their normal form: full-width as half-width, digits and Latin "
                            "letters as class symbols; the output keeps the input's characters (default: on for "
                            "character-level BMES corpora)")
    model.add_argument("--lexicon", action=argparse.BooleanOptionalAction,
                       help="dictionary features: which training words (seen twice or more) start and end at each "
                            "character; character-level BMES corpora only (default: off: on pd98 it lowered OOV "
                            "recall, see BENCHMARKS.md)")
    model.add_argument("--dictionary", metavar="PATH", type=Path,
                       help="dictionary features from a word list (UTF-8, one word per line; the first field of "
                            "'word freq tag' lines, as jieba's dict.txt): which of its words start and end at each "
                            "character; with --lexicon the training words join them; character-level BMES corpora "
                            "only (BENCHMARKS.md: what two outside dictionaries did on pd98)")
    add(model, "lexicon_max_len", 4)
    add(model, "lexicon_embed_size", 16)
    add(model, "hidden_size", 150)
    add(model, "layers", 1)
    add(model, "dropout", 0.2)
    model.add_argument("--decoder", choices=["crf", "softmax"], default="crf", help="the output layer")
    add(parser, "select", "loss")


def dictionary_words(path: Path, max_len: int) -> list[str]:
    """The words of ``--dictionary``'s file, refused by name when none of them can be matched."""
    from ..data.lexicon import read_dictionary
    from .errors import CommandError

    try:
        words = read_dictionary(path)
    except ValueError as error:
        raise CommandError(f"--dictionary: {error}") from None
    if not any(2 <= len(word) <= max_len for word in words):
        raise CommandError(f"--dictionary: none of the {len(words)} words of {path} has 2..{max_len} characters "
                           f"(--lexicon-max-len)")
    return words


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.sequences import BucketBatches, TokenEncoder
    from ..data.tagging import load_tagging_corpus, words_from_bmes
    from ..tasks.scoring import bmes_segmentation_scores, entity_scores, token_accuracy
    from ..tasks.tagger import Tagger, TaggerConfig, tag_sequences, tagging_examples
    from .errors import CommandError
    from .task import fingerprint

    corpus = load_tagging_corpus(args.corpus, args.encoding, args.file_format)
    segmenting = corpus.scheme == "bmes" and corpus.level == "char"
    normalize = segmenting if args.normalize is None else args.normalize
    use_lexicon = bool(args.lexicon)
    for flag, used in (("--lexicon", use_lexicon), ("--dictionary", args.dictionary is not None)):
        if used and not segmenting:
            raise CommandError(f"{flag}: needs a character-level BMES corpus, {corpus.name} is "
                               f"{corpus.level}-level with scheme {corpus.scheme}")
    dictionary = dictionary_words(args.dictionary, args.lexicon_max_len) if args.dictionary else []
    train, dev, test = (part[:args.limit] for part in corpus.split()) if args.limit else corpus.split()
    if not train or not dev or not test:
        raise CommandError(f"--corpus: {len(corpus.sentences)} sentences are too few for train/dev/test")
    use_bigrams = corpus.level == "char" if args.bigrams is None else args.bigrams
    encoder = TokenEncoder.build([tokens for tokens, _ in train], corpus.level, args.min_count, use_bigrams,
                                 args.bigram_min_count, "width-classes" if normalize else None,
                                 [words_from_bmes(t, tags) for t, tags in train] if use_lexicon else None,
                                 args.lexicon_max_len, dictionary)
    config = TaggerConfig(len(encoder.vocab), tuple(corpus.tags), corpus.scheme,
                          len(encoder.bigram_vocab) if encoder.bigram_vocab else 0, args.cell, args.embed_size,
                          args.bigram_embed_size, args.hidden_size, args.layers, args.dropout, args.decoder,
                          encoder.lexicon.size if encoder.lexicon else 0, args.lexicon_embed_size)
    print(f"{corpus.name}: {len(train)}/{len(dev)}/{len(test)} train/dev/test sentences, scheme {corpus.scheme}, "
          f"{len(encoder.vocab)} tokens" + (f", {len(encoder.bigram_vocab)} bigrams" if use_bigrams else "")
          + (f", {len(encoder.lexicon)} dictionary words" if encoder.lexicon else "")
          + (f", normal form {encoder.normalize}" if normalize else ""), file=sys.stderr)
    data = {name: BucketBatches(tagging_examples(encoder, part, config.tags), args.batch_size, shuffle=name == "train")
            for name, part in (("train", train), ("dev", dev))}
    metadata = {"task": "tagger", "corpus": corpus.name, "scheme": corpus.scheme, "encoder": encoder.to_dict()}
    trainer = run.fit(Tagger(config), data["train"], data["dev"], metadata, data_hash=fingerprint(train),
                      select=args.select)

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
    print(f"test: {format_scores(scores, keys)}")
    return {"corpus": corpus.name, "sentences": len(test), **scores}


TASK = TrainTask(
    "tagger", help="train a BiLSTM/BiGRU-CRF tagger (segmentation, NER, POS)",
    description="Trains character (+ bigram) embeddings, a bidirectional LSTM/GRU and a CRF (or softmax) on a "
                "tagged corpus, keeps the model with the best dev loss (or tag accuracy, --select), and scores it "
                "on the test split: word P/R/F1 and OOV recall (BMES), entity P/R/F1 (BIO/BIOES) or token "
                "accuracy. " + SPLIT_NOTE,
    add_flags=add_flags, run=run_train, training={"epochs": 10, "batch_size": 32, "lr": 2e-3, "patience": 3})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    parser = register_predict(commands, "tag", help="tag text with a trained tagger: words, entities or tags",
                              description="Prints, for each input text, the words (segmentation: the input's own "
                                          "characters, never joined across a space), the entities as TEXT/TYPE "
                                          "(NER) or TOKEN/TAG pairs, one output line per input line.",
                              inputs=("texts", "TEXT", "texts to tag (default: stdin, a sentence a line)"),
                              batch_size=64, func=run_tag)
    parser.add_argument("--vote", metavar="RUN_DIR", action="append", default=[], type=Path,
                        help="another segmenter's run directory (repeatable): a word ends where more than half of "
                             "all the segmenters end one (five seeds: +0.005 F1 on pd98, BENCHMARKS.md); "
                             "character-level segmentation only")


def run_tag(args: argparse.Namespace) -> int:
    from ..data.sequences import TokenEncoder
    from ..data.tagging import entity_spans, voted_spans, words_from_bmes
    from ..tasks.tagger import Tagger, is_segmenter, segment_texts, tag_sequences
    from .errors import CommandError
    from .task import resolve_device

    device = resolve_device(args.device)
    models = []
    for flag, run_dir in [("RUN_DIR", args.run_dir), *(("--vote", run_dir) for run_dir in args.vote)]:
        model, metadata = Tagger.from_checkpoint(task_checkpoint(run_dir, "tagger", flag), device=device)
        encoder = TokenEncoder.from_dict(metadata["encoder"])
        if args.vote and not is_segmenter(model, encoder):
            raise CommandError(f"--vote: votes on word boundaries, {flag} {run_dir} is a {encoder.vocab.level}-level "
                               f"{model.config.scheme} tagger, not a character-level segmenter")
        models.append((model, encoder))
    lines = input_lines(args.texts)
    model, encoder = models[0]
    scheme = model.config.scheme
    if is_segmenter(model, encoder):
        members = [segment_texts(member, member_encoder, lines, args.batch_size) for member, member_encoder in models]
        for line, spans in zip(lines, voted_spans(lines, members) if args.vote else members[0]):
            print(" ".join(line[start:end] for start, end in spans))
        return 0
    token_lists = [encoder.split(line) for line in lines]
    for tokens, tags in zip(token_lists, tag_sequences(model, encoder, token_lists, args.batch_size)):
        if scheme == "bmes":
            print(" ".join(words_from_bmes(tokens, tags)))
        elif scheme in ("bio", "bioes"):
            joiner = "" if encoder.vocab.level == "char" else " "
            print(" ".join(f"{joiner.join(tokens[a:b])}/{kind}" for a, b, kind in entity_spans(tags)))
        else:
            print(" ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags)))
    return 0
