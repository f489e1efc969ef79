r"""Sentiment over parse trees (Socher et al. 2013; Tai et al. 2015): a class at every node.

    x_j = dropout(E[w_j])                           the word of each leaf (inner nodes: x = 0)  (M, E)
    h_j = TreeCell(x_j, children of j)              bottom-up, all trees of a batch by level     (N, H)
    p(y_j | tree below j) = softmax(W dropout(h_j) + b)                                          (N, C)

cell: ``tree-lstm`` (Child-Sum), ``nary-tree-lstm`` (binary, N = 2) or ``recursive`` (Socher's
composition, tanh). granularity: ``fine`` (C = 5: very negative .. very positive) or ``binary``
(C = 2: classes 0-1 negative, 3-4 positive; neutral nodes carry no label and trees with a neutral
root are left out, as in SST-2). The loss is the mean cross-entropy over the labelled nodes
(``node_loss``: every phrase of the treebank) or over the roots only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import state_leaves
from ..data.tree_batches import TreeBatch, TreeBatches, TreeExample
from ..data.vocab import Vocabulary
from ..nn import LossOutput
from ..structured import ChildSumTreeLSTMCell, NaryTreeLSTMCell, RecursiveCell, Tree, tree_forward
from ._config import check_choice, check_positive, check_rate, config_from_dict

CELLS = {"tree-lstm": lambda e, h: ChildSumTreeLSTMCell(e, h),
         "nary-tree-lstm": lambda e, h: NaryTreeLSTMCell(e, h, arity=2),
         "recursive": lambda e, h: RecursiveCell(e, h, arity=2)}
GRANULARITIES = {"fine": 5, "binary": 2}
BINARY = {0: 0, 1: 0, 2: -1, 3: 1, 4: 1}                 # fine class -> binary class (-1: neutral, no label)


@dataclass(frozen=True)
class TreeSentimentConfig:
    """Everything needed to rebuild a :class:`TreeSentiment`; saved with its checkpoints.

    Attributes:
        vocab_size: word ids.  cell: ``tree-lstm``, ``nary-tree-lstm`` or ``recursive``.
        granularity: ``fine`` (5 classes) or ``binary`` (2).  embed_size: E.  hidden_size: H.
        dropout: on the word vectors and on h before the output layer.
        node_loss: train on every labelled node (True) or on the roots only.
    """

    vocab_size: int
    cell: str = "nary-tree-lstm"
    granularity: str = "fine"
    embed_size: int = 300
    hidden_size: int = 150
    dropout: float = 0.5
    node_loss: bool = True

    def __post_init__(self):
        check_positive(self, "vocab_size", "embed_size", "hidden_size")
        check_choice("cell", self.cell, tuple(CELLS))
        check_choice("granularity", self.granularity, tuple(GRANULARITIES))
        check_rate("dropout", self.dropout)
        if not isinstance(self.node_loss, bool):
            raise ValueError(f"node_loss: expected True or False, got {self.node_loss!r}")

    @property
    def classes(self) -> int:
        return GRANULARITIES[self.granularity]

    @classmethod
    def from_dict(cls, data: dict) -> "TreeSentimentConfig":
        return config_from_dict(cls, data)


class TreeSentiment(nn.Module):
    """Word embeddings -> a tree cell over each parse tree -> a softmax at every node (module docstring).

    Parameters: ``embedding.weight (V, E)``, ``cell.*`` (the tree cell's), ``output.weight (C, H)``, ``output.bias (C)``.
    """

    def __init__(self, config: TreeSentimentConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.cell = CELLS[config.cell](config.embed_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.classes)

    def forward(self, batch: TreeBatch) -> torch.Tensor:
        """Class scores of every node, ``(N, C)`` in the batch's global node order."""
        x = self.dropout(self.embedding(batch.tokens))                             # (M, E)
        h = state_leaves(tree_forward(self.cell, x, batch.schedule, batch.token_nodes))[0]   # (N, H)
        return self.output(self.dropout(h))                                        # (N, C)

    def loss(self, batch: TreeBatch, state=None) -> LossOutput:
        """Mean cross-entropy over the labelled nodes (or roots); in evaluation also ``root_accuracy``."""
        logits = self(batch)                                                       # (N, C)
        targets = batch.labels
        if not self.config.node_loss:
            targets = torch.full_like(targets, -1).index_copy(0, batch.schedule.roots, targets[batch.schedule.roots])
        count = int((targets >= 0).sum())
        loss = F.cross_entropy(logits, targets, ignore_index=-1)
        metrics = {}
        if not self.training:
            roots = batch.schedule.roots
            metrics["root_accuracy"] = float((logits[roots].argmax(1) == batch.labels[roots]).float().mean())
        return LossOutput(loss=loss, count=max(count, 1), metrics=metrics)

    def predict_proba(self, batch: TreeBatch) -> torch.Tensor:
        """Class probabilities of every node ``(N, C)``."""
        with torch.no_grad():
            return self(batch).softmax(-1)

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["TreeSentiment", dict]:
        """``(model, metadata)`` from a Trainer checkpoint (run directory, checkpoint directory or a loaded
        :class:`~rnnkit.train.Checkpoint`), through :func:`rnnkit.train.restore.restore_model`."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, TreeSentimentConfig, vocabularies={"vocabulary": "vocab_size"},
                                          device=device)
        return model, checkpoint.metadata


def normalise(token: str, lowercase: bool) -> str:
    return token.lower() if lowercase else token


def word_vocabulary(trees: Sequence[Tree], lowercase: bool, min_count: int) -> Vocabulary:
    """The words of (training) trees seen at least ``min_count`` times, most frequent first."""
    from ..data.sequences import count_vocabulary

    return count_vocabulary([[normalise(w, lowercase) for w in t.words()] for t in trees], "word", min_count)


def encode_tree(tree: Tree, vocabulary: Vocabulary, granularity: str, lowercase: bool) -> TreeExample:
    """A tree's word ids and its node labels for ``granularity`` (None when the tree has no labels)."""
    tokens = tree.tokens or (None,) * len(tree)
    nodes = tuple(j for j, t in enumerate(tokens) if t is not None)
    ids = tuple(vocabulary.index.get(normalise(tokens[j], lowercase), 0) for j in nodes)
    labels = None
    if tree.labels is not None:
        labels = tuple(BINARY[y] if granularity == "binary" else y for y in tree.labels)
    return TreeExample(tree, nodes, ids, labels)


def sentiment_examples(trees: Sequence[Tree], vocabulary: Vocabulary, granularity: str,
                       lowercase: bool) -> list[TreeExample]:
    """Encoded labelled trees; for ``binary`` the trees with a neutral root are left out."""
    examples = [encode_tree(t, vocabulary, granularity, lowercase) for t in trees]
    return [e for e in examples if e.labels[e.tree.root] >= 0]


def node_probabilities(model: TreeSentiment, examples: Sequence[TreeExample], batch_size: int = 64) -> list[torch.Tensor]:
    """Per example, the class probabilities of its nodes ``(n, C)``, in input order."""
    batches = TreeBatches(examples, batch_size, shuffle=False)
    device = next(model.parameters()).device
    model.eval()
    out: list[torch.Tensor] = [torch.empty(0)] * len(examples)
    for indices, batch in zip(batches.batch_indices(), batches):
        p = model.predict_proba(batch.to(device)).cpu()                           # (N, C)
        for i, rows in zip(indices, p.split([len(examples[i].tree) for i in indices])):
            out[i] = rows
    return out


def sentiment_scores(model: TreeSentiment, examples: Sequence[TreeExample], batch_size: int = 64) -> dict:
    """Root and all-node accuracy over labelled trees; a fine-grained model also scores binary sentiment
    at the non-neutral roots (positive when p(3) + p(4) > p(0) + p(1)).

    Returns:
        ``{"root_accuracy", "node_accuracy", "trees", "nodes"}`` and, for a fine model,
        ``{"binary_root_accuracy", "binary_trees"}``.
    """
    probabilities = node_probabilities(model, examples, batch_size)
    roots = nodes = right_roots = right_nodes = binary = right_binary = 0
    for example, p in zip(examples, probabilities):
        labels = torch.tensor(example.labels)
        predicted = p.argmax(1)
        valid = labels >= 0
        right_nodes += int((predicted[valid] == labels[valid]).sum())
        nodes += int(valid.sum())
        root = example.tree.root
        if labels[root] >= 0:
            roots += 1
            right_roots += int(predicted[root] == labels[root])
        if model.config.granularity == "fine" and BINARY[int(labels[root])] >= 0:
            binary += 1
            positive = bool(p[root, 3:].sum() > p[root, :2].sum())
            right_binary += int(positive == (BINARY[int(labels[root])] == 1))
    scores = {"root_accuracy": right_roots / max(roots, 1), "node_accuracy": right_nodes / max(nodes, 1),
              "trees": roots, "nodes": nodes}
    if model.config.granularity == "fine":
        scores.update(binary_root_accuracy=right_binary / max(binary, 1), binary_trees=binary)
    return scores


def parse_input(text: str) -> Tree:
    """A tree from the user's line: a bracket tree with a class before every node's words, as the treebank
    writes them (labels ignored), an unlabelled bracket tree, or a sentence (a balanced binary tree over
    its words; brackets in words escaped as the treebank does).

    Raises:
        ValueError: a malformed bracket tree or an empty line.
    """
    from ..data.trees import ptb_escape

    text = text.strip()
    if not text.startswith("("):
        return Tree.balanced([ptb_escape(w) for w in text.split()])
    labelled = all(following.isdigit() for following in re.findall(r"\(\s*([^\s()]*)", text))
    tree = Tree.from_brackets(text, labelled=labelled)
    return Tree(tree.parents, None, tree.tokens)


def label_trees(model: TreeSentiment, vocabulary: Vocabulary, trees: Sequence[Tree], lowercase: bool,
                batch_size: int = 64) -> list[list[int]]:
    """The predicted class of every node of each tree, in input order."""
    examples = [encode_tree(Tree(t.parents, None, t.tokens), vocabulary, model.config.granularity, lowercase)
                for t in trees]
    if not examples:
        return []
    return [p.argmax(1).tolist() for p in node_probabilities(model, examples, batch_size)]
