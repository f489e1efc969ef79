"""``rnnkit train treesent`` and ``rnnkit label-tree``: sentiment at every node of a parse tree."""
from __future__ import annotations

import argparse
import sys

from .flags import add
from .task import TrainTask, format_scores, input_lines, register_predict, register_task, task_checkpoint

CELLS = ("tree-lstm", "nary-tree-lstm", "recursive")            # rnnkit.tasks.treesent.CELLS (a test checks)


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "data", required=True, metavar="DIR",
        help="a treebank directory with train.txt, dev.txt and test.txt: one PTB bracket tree a line, a sentiment "
             "class 0-4 at every node (the Stanford Sentiment Treebank's format)")
    add(data, "encoding", "utf-8")
    add(data, "limit")
    data.add_argument("--granularity", choices=["fine", "binary"], default="fine",
                      help="fine: 5 classes; binary: negative (0-1) vs positive (3-4), neutral nodes unlabelled and "
                           "trees with a neutral root left out")
    data.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=True,
                      help="lowercase the words before the vocabulary")
    model = parser.add_argument_group("model")
    add(model, "cell", "nary-tree-lstm", choices=CELLS,
        help="tree-lstm: Child-Sum Tree-LSTM; nary-tree-lstm: binary Tree-LSTM; recursive: Socher's recursive NN")
    add(model, "embed_size", 300)
    add(model, "hidden_size", 150)
    add(model, "dropout", 0.5, help="dropout on the word vectors and before the output layer (training only)")
    add(model, "min_count", 1)
    model.add_argument("--root-only", action="store_true",
                       help="train on the root labels only (default: on the label of every node)")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.tree_batches import TreeBatches
    from ..data.trees import load_treebank
    from ..tasks.treesent import (TreeSentiment, TreeSentimentConfig, sentiment_examples, sentiment_scores,
                                  word_vocabulary)
    from .task import fingerprint

    treebank = load_treebank(args.data, args.encoding)
    if args.limit:
        treebank = {split: trees[:args.limit] for split, trees in treebank.items()}
    vocabulary = word_vocabulary(treebank["train"], args.lowercase, args.min_count)
    examples = {split: sentiment_examples(trees, vocabulary, args.granularity, args.lowercase)
                for split, trees in treebank.items()}
    config = TreeSentimentConfig(len(vocabulary), args.cell, args.granularity, args.embed_size, args.hidden_size,
                                 args.dropout, not args.root_only)
    print(f"{args.data}: {'/'.join(str(len(examples[s])) for s in ('train', 'dev', 'test'))} train/dev/test trees "
          f"({args.granularity}), {len(vocabulary)} words", file=sys.stderr)
    data = {split: TreeBatches(examples[split], args.batch_size, shuffle=split == "train") for split in ("train", "dev")}
    metadata = {"task": "treesent", "vocabulary": vocabulary.to_dict(), "lowercase": args.lowercase}
    trees = [t.to_brackets() for t in treebank["train"]]
    trainer = run.fit(TreeSentiment(config), data["train"], data["dev"], metadata,
                      data_hash=fingerprint([args.granularity, args.lowercase, trees]))
    scores = sentiment_scores(trainer.model, examples["test"], args.batch_size)
    keys = ["root_accuracy", "binary_root_accuracy", "node_accuracy", "trees"]
    print(f"test: {format_scores(scores, keys)}")
    return {"data": str(args.data), "cell": args.cell, "granularity": args.granularity, **scores}


TASK = TrainTask(
    "treesent", help="train a Tree-LSTM / recursive NN for sentiment at every node of parse trees (SST)",
    description="Trains word embeddings and a tree cell (Child-Sum or binary Tree-LSTM, or Socher's recursive NN) "
                "over the parse trees of a sentiment treebank, batched by tree level, with a softmax at every node; "
                "keeps the model with the best dev loss and scores the test split: root accuracy (and, for the "
                "5-class model, binary accuracy at the non-neutral roots) and accuracy over all nodes.",
    add_flags=add_flags, run=run_train,
    training={"epochs": 10, "batch_size": 25, "optimizer": "adagrad", "lr": 0.05, "weight_decay": 0.0,
              "patience": 3})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    register_predict(commands, "label-tree", help="label every node of parse trees with a trained treesent model",
                     description="Reads bracket trees (labelled like the treebank, labels ignored, or unlabelled: "
                                 "((The movie) (was great))) or plain sentences (given a balanced binary tree), one a "
                                 "line, and prints each tree with the predicted class at every node.",
                     inputs=("texts", "TREE", "trees or sentences (default: stdin, one a line)"), batch_size=64,
                     func=run_label_tree)


def run_label_tree(args: argparse.Namespace) -> int:
    from ..data.vocab import Vocabulary
    from ..tasks.treesent import TreeSentiment, label_trees, parse_input
    from .errors import CommandError
    from .task import resolve_device

    model, metadata = TreeSentiment.from_checkpoint(task_checkpoint(args.run_dir, "treesent"),
                                                    device=resolve_device(args.device))
    vocabulary = Vocabulary.from_dict(metadata["vocabulary"])
    lines = input_lines(args.texts)
    trees = {}
    for i, line in enumerate(lines):
        if line.strip():
            try:
                trees[i] = parse_input(line)
            except ValueError as err:
                raise CommandError(f"line {i + 1}: {err}") from None
    labels = label_trees(model, vocabulary, list(trees.values()), metadata["lowercase"], args.batch_size)
    predicted = dict(zip(trees, labels))
    for i in range(len(lines)):
        print(trees[i].to_brackets(predicted[i]) if i in trees else "")
    return 0
