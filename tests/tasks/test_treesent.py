"""The tree sentiment model: its loss by hand, binary labels, scores, input parsing, learning a tiny treebank."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.tree_batches import TreeBatches, collate_trees
from rnnkit.structured import Tree
from rnnkit.tasks.treesent import (BINARY, TreeSentiment, TreeSentimentConfig, encode_tree, label_trees, parse_input,
                                   sentiment_examples, sentiment_scores, word_vocabulary)



pytestmark = pytest.mark.usefixtures("one_thread")


TREES = [Tree.from_brackets(t) for t in [
    "(4 (2 the) (4 (4 good) (2 film)))", "(0 (2 the) (0 (0 bad) (2 film)))", "(2 (2 the) (2 film))",
    "(3 (4 good) (1 (1 dull) (2 plot)))"]]
TREES = [Tree(t.parents, [int(y) for y in t.labels], t.tokens) for t in TREES]


def test_vocabulary_and_encoding():
    vocab = word_vocabulary(TREES, lowercase=True, min_count=1)
    assert set(vocab.tokens) == {"<unk>", "the", "good", "film", "bad", "dull", "plot"}
    example = encode_tree(TREES[0], vocab, "fine", lowercase=True)
    assert example.token_nodes == (1, 3, 4) and example.labels == (4, 2, 4, 4, 2)
    assert [vocab.tokens[i] for i in example.token_ids] == ["the", "good", "film"]
    binary = encode_tree(TREES[0], vocab, "binary", lowercase=True)
    assert binary.labels == (1, -1, 1, 1, -1)
    assert len(sentiment_examples(TREES, vocab, "binary", True)) == 3                  # the neutral root is left out
    assert BINARY == {0: 0, 1: 0, 2: -1, 3: 1, 4: 1}


@pytest.mark.parametrize("cell", ["tree-lstm", "nary-tree-lstm", "recursive"])
@pytest.mark.parametrize("node_loss", [True, False])
def test_loss_is_the_mean_cross_entropy_over_labelled_nodes(cell, node_loss):
    vocab = word_vocabulary(TREES, True, 1)
    model = TreeSentiment(TreeSentimentConfig(len(vocab), cell, "binary", 6, 5, 0.0, node_loss)).eval()
    batch = collate_trees(sentiment_examples(TREES, vocab, "binary", True))
    logits = model(batch)
    labels = batch.labels.clone()
    if not node_loss:
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[batch.schedule.roots] = True
        labels[~keep] = -1
    valid = labels >= 0
    out = model.loss(batch)
    torch.testing.assert_close(out.loss, F.cross_entropy(logits[valid], labels[valid]))
    assert out.count == int(valid.sum()) and 0.0 <= out.metrics["root_accuracy"] <= 1.0


def test_learns_a_tiny_treebank_and_scores_it():
    torch.manual_seed(0)
    vocab = word_vocabulary(TREES, True, 1)
    examples = sentiment_examples(TREES, vocab, "fine", True)
    model = TreeSentiment(TreeSentimentConfig(len(vocab), "nary-tree-lstm", "fine", 8, 8, 0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        for batch in TreeBatches(examples, 2):
            optimizer.zero_grad()
            model.loss(batch).loss.backward()
            optimizer.step()
    scores = sentiment_scores(model, examples)
    assert scores["root_accuracy"] == 1.0 and scores["node_accuracy"] == 1.0
    assert scores["trees"] == 4 and scores["nodes"] == 18
    assert scores["binary_trees"] == 3 and scores["binary_root_accuracy"] == 1.0
    assert label_trees(model, vocab, [TREES[1]], True) == [list(TREES[1].labels)]


def test_user_input_becomes_trees():
    labelled = parse_input("(3 (2 The) (4 good))")
    assert labelled.labels is None and labelled.words() == ["The", "good"] and labelled.parents == (-1, 0, 0)
    unlabelled = parse_input("((The movie) (is good))")
    assert unlabelled.words() == ["The", "movie", "is", "good"] and len(unlabelled) == 7
    sentence = parse_input("  a (very) good film ")
    assert sentence.words() == ["a", "-LRB-very-RRB-", "good", "film"] and sentence.max_children == 2
    with pytest.raises(ValueError, match="tree: 1 bracket"):
        parse_input("((a b)")


@pytest.mark.parametrize("field, value, message", [
    ("cell", "lstm", "cell: expected one of tree-lstm, nary-tree-lstm, recursive"),
    ("granularity", "coarse", "granularity: expected one of fine, binary"),
    ("dropout", 1.0, "dropout: expected a rate"),
    ("hidden_size", 0, "hidden_size: expected a positive integer"),
    ("node_loss", "yes", "node_loss: expected True or False"),
])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        TreeSentimentConfig(**{"vocab_size": 5, field: value})
