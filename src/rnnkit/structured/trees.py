r"""Trees: parent-index arrays with ordered children, node labels and the words at the nodes.

A tree of n nodes is its parent array ``parents[j]`` (``-1`` at the one root). The children of a
node are ordered by their index, so ``parents`` also fixes left and right, which the N-ary cells
need. PTB bracket strings, as the Stanford Sentiment Treebank writes them, number the nodes in
pre-order (the root is 0, a left subtree before its right sibling)::

    (3 (2 The) (4 (3 best) (2 film)))        parents  [-1, 0, 0, 2, 2]
                                             labels   ['3', '2', '4', '3', '2']
                                             tokens   [None, 'The', None, 'best', 'film']

The height of a node is 0 at a leaf and ``1 + max(height of its children)`` above; the batched
schedule (:mod:`rnnkit.structured.schedule`) runs all nodes of one height in one cell call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

_TOKENS = re.compile(r"\(|\)|[^ \t\n\r\f\v()]+")       # ASCII whitespace only: SST has a word "8\u00a01/2"


@dataclass(frozen=True)
class Tree:
    """One tree: ``parents`` (one root, no cycles), optional per-node ``labels`` and ``tokens``.

    Arguments:
        parents: ``parents[j]`` is the parent of node j, ``-1`` for the root.
        labels: one label per node (any values; the sentiment task uses ints 0..4), or None.
        tokens: one word per node (None where a node has no word, e.g. inner constituents), or None.

    Attributes:
        children: per node, its children in index order.  heights: per node, 0 at the leaves.
        order: the nodes children-first (a post-order), the order a recursion computes them in.
        ranks: per node, its position among its parent's children (0 for the root).
    """

    parents: tuple[int, ...]
    labels: tuple[Any, ...] | None = None
    tokens: tuple[str | None, ...] | None = None
    children: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    heights: np.ndarray = field(init=False, repr=False, compare=False)
    order: np.ndarray = field(init=False, repr=False, compare=False)
    ranks: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        parents = _parent_tuple(self.parents)
        object.__setattr__(self, "parents", parents)
        n = len(parents)
        for name in ("labels", "tokens"):
            values = getattr(self, name)
            if values is not None:
                values = tuple(values)
                if len(values) != n:
                    raise ValueError(f"{name}: expected one per node ({n}), got {len(values)}")
                object.__setattr__(self, name, values)
        children: list[list[int]] = [[] for _ in range(n)]
        for j, p in enumerate(parents):
            if p >= 0:
                children[p].append(j)
        root = parents.index(-1)
        order, stack = [], [(root, False)]
        while stack:                                       # iterative post-order from the root
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(children[node]))
        if len(order) != n:
            raise ValueError(f"parents: {n - len(order)} node(s) do not reach the root (a cycle)")
        heights = np.zeros(n, dtype=np.int64)
        for node in order:
            if children[node]:
                heights[node] = 1 + max(heights[c] for c in children[node])
        ranks = np.zeros(n, dtype=np.int64)
        for kids in children:
            ranks[list(kids)] = np.arange(len(kids))
        object.__setattr__(self, "children", tuple(tuple(k) for k in children))
        object.__setattr__(self, "heights", heights)
        object.__setattr__(self, "order", np.asarray(order, dtype=np.int64))
        object.__setattr__(self, "ranks", ranks)

    def __len__(self) -> int:
        return len(self.parents)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def leaves(self) -> list[int]:
        """The leaf nodes in left-to-right order."""
        return [j for j in self.preorder() if not self.children[j]]

    @property
    def max_children(self) -> int:
        return max(len(k) for k in self.children)

    def preorder(self) -> list[int]:
        """Nodes parent-first, left subtree before right: the order of a bracket string."""
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.children[node]))
        return out

    def words(self) -> list[str]:
        """The tokens of the leaves, left to right (the sentence of a constituency tree)."""
        tokens = self.tokens or (None,) * len(self)
        return [tokens[j] for j in self.leaves if tokens[j] is not None]

    @classmethod
    def from_brackets(cls, text: str, labelled: bool = True) -> "Tree":
        """Parses one bracket string.

        Arguments:
            text: ``(LABEL WORD)`` for a leaf and ``(LABEL SUBTREE SUBTREE ...)`` above (``labelled``),
                or without labels, ``((The movie) (is great))``, where every bare word is a leaf.
            labelled: whether each opening bracket is followed by the node's label.
        Returns:
            The tree, nodes in pre-order; labels are the label strings (None when not ``labelled``).
        Raises:
            ValueError: unbalanced brackets, text outside the one tree, an empty bracket, a labelled
                node with a word and subtrees or with two words.
        """
        tokens = _TOKENS.findall(text)
        if not tokens or tokens[0] != "(":
            raise ValueError(f"tree: expected '(' at the start, got {text[:30]!r}")
        parents: list[int] = []
        labels: list[Any] = []
        words: list[str | None] = []
        has_children: list[bool] = []
        open_nodes: list[int] = []
        want_label = False
        for position, token in enumerate(tokens):
            if not open_nodes and parents:
                raise ValueError(f"tree: text after the root's closing bracket (token {position + 1}: {token!r})")
            if token == "(":
                if open_nodes and words[open_nodes[-1]] is not None and labelled:
                    raise ValueError(f"tree: node {open_nodes[-1]} has a word and subtrees (token {position + 1})")
                _new_node(parents, labels, words, has_children, open_nodes[-1] if open_nodes else -1)
                open_nodes.append(len(parents) - 1)
                want_label = labelled
            elif token == ")":
                if not open_nodes:
                    raise ValueError(f"tree: unbalanced ')' (token {position + 1})")
                node = open_nodes.pop()
                if want_label or (words[node] is None and not has_children[node]):
                    raise ValueError(f"tree: an empty bracket (token {position + 1})")
                want_label = False
            elif want_label:
                labels[open_nodes[-1]] = token
                want_label = False
            elif labelled:
                node = open_nodes[-1]
                if words[node] is not None or has_children[node]:
                    raise ValueError(f"tree: node {node} holds more than one word or a word and subtrees "
                                     f"(token {position + 1}: {token!r})")
                words[node] = token
            else:
                _new_node(parents, labels, words, has_children, open_nodes[-1])
                words[-1] = token
        if open_nodes:
            raise ValueError(f"tree: {len(open_nodes)} bracket(s) left open at the end")
        return cls(parents, labels if labelled else None, words)

    @classmethod
    def balanced(cls, tokens: Sequence[str]) -> "Tree":
        """A balanced binary tree over ``tokens`` (for a sentence without a parse): each inner node
        splits its span in the middle, the left half taking the extra token."""
        if not tokens:
            raise ValueError("tokens: expected at least one token")
        parents: list[int] = []
        words: list[str | None] = []
        stack = [(0, len(tokens), -1)]
        while stack:
            start, end, parent = stack.pop()
            parents.append(parent)
            node = len(parents) - 1
            if end - start == 1:
                words.append(tokens[start])
                continue
            words.append(None)
            middle = (start + end + 1) // 2
            stack += [(middle, end, node), (start, middle, node)]      # left popped first: pre-order ids
        return cls(parents, None, words)

    @classmethod
    def chain(cls, length: int) -> "Tree":
        """``length`` nodes in a chain: node t is the only child of node t + 1 (the root is the last).

        Node t of the chain plays step t of a sequence: a tree cell over it is a chain cell over time.
        """
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length: expected a positive integer, got {length!r}")
        return cls([*range(1, length), -1])

    def to_brackets(self, labels: Sequence[Any] | None = None) -> str:
        """The bracket string, ``(LABEL WORD)`` at leaves; ``labels`` (default: the tree's own)
        may be None for an unlabelled string."""
        labels = self.labels if labels is None else labels
        tokens = self.tokens or (None,) * len(self)
        pieces: list[str] = []
        stack: list[tuple[int, bool]] = [(self.root, False)]
        while stack:
            node, closing = stack.pop()
            if closing:
                pieces.append(")")
                continue
            word = tokens[node] if not self.children[node] else None
            if labels is None and word is not None:
                pieces.append(word)                        # unlabelled: a leaf is its bare word
                continue
            head = "(" if labels is None else f"({labels[node]}"
            pieces.append(head if word is None else f"{head} {word}")
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(self.children[node]))
        return _join(pieces)


def _new_node(parents, labels, words, has_children, parent: int) -> None:
    parents.append(parent)
    labels.append(None)
    words.append(None)
    has_children.append(False)
    if parent >= 0:
        has_children[parent] = True


def _join(pieces: list[str]) -> str:
    """Bracket pieces joined with single spaces between siblings, none before ')'."""
    out = ""
    for piece in pieces:
        if piece == ")":
            out += ")"
        elif out and not out.endswith("("):
            out += " " + piece
        else:
            out += piece
    return out


def _parent_tuple(parents: Any) -> tuple[int, ...]:
    """``parents`` as a tuple of ints with one -1 and every other entry a node index."""
    try:
        values = list(parents)
    except TypeError:
        values = None
    if values is None or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in values):
        raise ValueError(f"parents: expected a sequence of integer parent indices, got {parents!r:.60}")
    values = [int(p) for p in values]
    n = len(values)
    if n == 0:
        raise ValueError("parents: expected at least one node, got none")
    roots = [j for j, p in enumerate(values) if p == -1]
    if len(roots) != 1:
        raise ValueError(f"parents: expected exactly one root (-1), got {len(roots)}")
    bad = [j for j, p in enumerate(values) if not -1 <= p < n or p == j]
    if bad:
        raise ValueError(f"parents: node {bad[0]} has parent {values[bad[0]]}, expected -1 or another node "
                         f"in [0, {n})")
    return tuple(values)
