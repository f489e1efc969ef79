"""Dialogues, exchanges and their context, checked by hand on small conversations."""
import pytest
import torch

from rnnkit.data.dialogue import (Exchange, ExchangeBatches, chain_pairs, clean_turn, collate_turns, context_ids,
                                  encode_exchanges, exchanges, pad_context, read_dialogues, read_pair_dialogues,
                                  split_turns)
from rnnkit.data.pairs import BOS_ID, EOS_ID, build_vocabulary


def test_consecutive_pairs_chain_into_dialogues():
    pairs = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "y"), ("q", "r"), ("r", "s")]
    assert chain_pairs(pairs) == [["a", "b", "c", "d"], ["x", "y"], ["q", "r", "s"]]


def test_unrelated_pairs_stay_two_turn_dialogues():
    assert chain_pairs([("a", "b"), ("c", "d"), ("b", "e")]) == [["a", "b"], ["c", "d"], ["b", "e"]]


def test_exchanges_read_the_last_k_turns_before_each_reply():
    dialogue = ["u1", "u2", "u3", "u4"]
    assert exchanges([dialogue], 1) == [Exchange(("u1",), "u2"), Exchange(("u2",), "u3"), Exchange(("u3",), "u4")]
    assert exchanges([dialogue], 2) == [Exchange(("u1",), "u2"), Exchange(("u1", "u2"), "u3"),
                                        Exchange(("u2", "u3"), "u4")]
    assert exchanges([dialogue, ["a", "b"]], 3) == [Exchange(("u1",), "u2"), Exchange(("u1", "u2"), "u3"),
                                                    Exchange(("u1", "u2", "u3"), "u4"), Exchange(("a",), "b")]
    assert exchanges([dialogue], 3)[-1].query == "u3"
    with pytest.raises(ValueError, match="turns: expected a positive integer"):
        exchanges([dialogue], 0)


def test_clean_turn_drops_control_characters_and_collapses_whitespace():
    assert clean_turn("  你\x00好\x1b[0m\t吗\u200b？\r\n ") == "你好[0m 吗？"
    assert clean_turn("\x01\x02\x7f") == ""


def test_read_dialogues_takes_blocks_of_turns(tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes("你好\r\n你好啊\r\n\r\n\r\n吃了吗\n吃了\n还没\n".encode())
    assert read_dialogues(path) == [["你好", "你好啊"], ["吃了吗", "吃了", "还没"]]


def test_a_one_turn_dialogue_is_named_by_its_line(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("a\nb\n\nlonely\n\nc\nd\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d.txt, line 4: a dialogue of one turn"):
        read_dialogues(path)


def test_read_pair_dialogues_chains_the_file_and_names_a_bad_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("a\tb\nb\tc\nx\ty\n", encoding="utf-8")
    assert read_pair_dialogues(path) == [["a", "b", "c"], ["x", "y"]]
    path.write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p.tsv, line 2: expected at least 2 tab-separated columns"):
        read_pair_dialogues(path)


@pytest.fixture
def vocab():
    return build_vocabulary(["abcde", "xyz"], "char")


def test_context_ids_join_turns_with_the_end_token_and_cut_each_turn(vocab):
    a, b, c, x, y = (vocab.index[ch] for ch in "abcxy")
    assert context_ids(["ab", "c"], vocab) == [a, b, EOS_ID, c]
    assert context_ids(["abc", "", "xy"], vocab, max_len=2) == [b, c, EOS_ID, x, y]
    assert split_turns([a, b, EOS_ID, c]) == [[a, b], [c]]


def test_encode_exchanges_keeps_replies_within_max_len(vocab):
    items = [Exchange(("ab", "c"), "xyz"), Exchange(("a",), "abcde"), Exchange(("a",), "")]
    examples = encode_exchanges(items, vocab, max_len=3)
    assert len(examples) == 1
    x, y, z = (vocab.index[ch] for ch in "xyz")
    assert examples[0].target == [BOS_ID, x, y, z, EOS_ID]
    assert split_turns(examples[0].ids) == [[vocab.index["a"], vocab.index["b"]], [vocab.index["c"]]]


def test_collate_turns_pads_turns_and_tokens(vocab):
    items = [Exchange(("ab", "c"), "x"), Exchange(("abcd",), "yz"), Exchange(("a", "b", "cd"), "z")]
    batch = collate_turns(encode_exchanges(items, vocab))
    a, b, c, d = (vocab.index[ch] for ch in "abcd")
    assert batch.tokens.shape == (3, 3, 4)
    assert batch.lengths.tolist() == [[2, 1, 0], [4, 0, 0], [1, 1, 2]]
    assert batch.tokens[0].tolist() == [[a, b, 0, 0], [c, 0, 0, 0], [0, 0, 0, 0]]
    assert batch.tokens[2].tolist() == [[a, 0, 0, 0], [b, 0, 0, 0], [c, d, 0, 0]]
    assert batch.targets.tolist() == [[BOS_ID, vocab.index["x"], EOS_ID, -1],
                                      [BOS_ID, vocab.index["y"], vocab.index["z"], EOS_ID],
                                      [BOS_ID, vocab.index["z"], EOS_ID, -1]]
    assert pad_context(encode_exchanges(items, vocab), hierarchical=True).targets is None


def test_both_forms_batch_the_same_examples(vocab):
    items = [Exchange(("ab", "c"), "x"), Exchange(("abcd",), "yz"), Exchange(("a", "b", "cd"), "z")]
    examples = encode_exchanges(items, vocab)
    flat = next(iter(ExchangeBatches(examples, 3, shuffle=False)))
    turns = next(iter(ExchangeBatches(examples, 3, shuffle=False, hierarchical=True)))
    assert flat.tokens.dim() == 2 and turns.tokens.dim() == 3
    assert torch.equal(flat.targets, turns.targets)
    for row in range(3):                                  # the turns, rejoined with </s>, are the flat row
        pieces = [turns.tokens[row, n, :k].tolist() for n, k in enumerate(turns.lengths[row].tolist()) if k]
        rejoined = [t for n, piece in enumerate(pieces) for t in ([EOS_ID] if n else []) + piece]
        assert flat.tokens[row, :flat.lengths[row]].tolist() == rejoined
