"""Treebank files and tree batches: sentiment labels, errors naming the file and line, batch layout."""
from __future__ import annotations

import pytest
import torch

from rnnkit.data import trees as treebank
from rnnkit.data.tree_batches import TreeBatches, TreeExample, collate_trees
from rnnkit.structured import Tree

TREES = ["(3 (2 The) (4 (3 best) (2 film)))", "(1 (2 -LRB-) (1 dull))", "(2 8\u00a01\\/2)"]


def _write(tmp_path, lines, name="train.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sentiment_trees_read_int_labels_and_keep_escapes(tmp_path):
    trees = treebank.sentiment_trees(_write(tmp_path, TREES + [""]))
    assert [t.labels for t in trees] == [(3, 2, 4, 3, 2), (1, 2, 1), (2,)]
    assert trees[1].words() == ["-LRB-", "dull"]
    assert trees[2].words() == ["8\u00a01\\/2"]                    # a no-break space stays inside the word
    assert treebank.ptb_escape("(a)[b]{c}") == "-LRB-a-RRB--LSB-b-RSB--LCB-c-RCB-"


@pytest.mark.parametrize("lines, message", [
    (["(3 (2 a) (2 b))", "(3 (2 a) (2 b)"], "train.txt:2: tree: 1 bracket"),
    (["(3 (2 a) (2 b)) junk"], "train.txt:1: tree: text after the root"),
    (["(3 (7 a) (2 b))"], "train.txt: tree 1: node label '7', expected a sentiment class 0..4"),
    (["(x (2 a) (2 b))"], "node label 'x'"),
    (["", "   "], "train.txt: the file is empty"),
])
def test_malformed_files_name_the_file_and_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        treebank.sentiment_trees(_write(tmp_path, lines))


def test_binary_bytes_and_oversized_files_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "train.txt"
    path.write_bytes(b"(3 (2 a)\x00 (2 b))\n")
    with pytest.raises(ValueError, match="looks binary"):
        treebank.read_trees(path)
    _write(tmp_path, TREES)
    monkeypatch.setattr(treebank, "MAX_BYTES", 10)
    with pytest.raises(ValueError, match="more than the 10 a treebank file may have"):
        treebank.read_trees(path)


def test_a_treebank_directory_needs_its_three_files(tmp_path):
    with pytest.raises(ValueError, match="expected a directory with train.txt, dev.txt, test.txt"):
        treebank.load_treebank(tmp_path / "nowhere")
    _write(tmp_path, TREES)
    with pytest.raises(ValueError, match="missing dev.txt, test.txt"):
        treebank.load_treebank(tmp_path)
    for split in ("dev", "test"):
        _write(tmp_path, TREES[:1], f"{split}.txt")
    assert {k: len(v) for k, v in treebank.load_treebank(tmp_path).items()} == {"train": 3, "dev": 1, "test": 1}


def test_collated_trees_by_hand():
    a, b = Tree.from_brackets("(1 (1 x) (1 y))"), Tree([-1])
    batch = collate_trees([TreeExample(a, (1, 2), (5, 6), (1, 0, 1)), TreeExample(b, (0,), (7,), (2,))])
    assert batch.schedule.num_nodes == 4
    assert batch.token_nodes.tolist() == [1, 2, 3] and batch.tokens.tolist() == [5, 6, 7]
    assert batch.labels.tolist() == [1, 0, 1, 2]


def test_tree_batches_group_by_height_and_cover_every_tree():
    trees = [Tree.chain(k) for k in (5, 1, 3, 2, 4)]
    examples = [TreeExample(t, (), ()) for t in trees]
    fixed = TreeBatches(examples, 2, shuffle=False)
    assert fixed.batch_indices() == [[1, 3], [2, 4], [0]]
    torch.manual_seed(0)
    drawn = TreeBatches(examples, 2).batch_indices()
    assert sorted(i for batch in drawn for i in batch) == [0, 1, 2, 3, 4] and len(drawn) == 3
    assert [b.labels for b in fixed] == [None, None, None]
