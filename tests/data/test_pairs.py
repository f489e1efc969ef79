"""Tab-separated sentence pairs: reading Tatoeba's format, vocabularies, encoding, padded buckets."""
import pytest
import torch

from rnnkit.data.pairs import (BOS_ID, EOS_ID, PairBatches, build_vocabulary, check_vocabulary, collate_pairs,
                               encode_pairs, read_pairs)
from rnnkit.data.sequences import Example
from rnnkit.data.vocab import Vocabulary

TATOEBA = ("\ufeffHi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #891077 (Martha)\r\n"
           "I love you.\t我爱你。\tCC-BY 2.0 (France) Attribution: tatoeba.org #1434 (CM)\r\n"
           "\r\n"
           "Tom isn't here.\t汤姆不在这儿。\tCC-BY 2.0 (France)\r\n")


@pytest.fixture
def tatoeba(tmp_path):
    path = tmp_path / "cmn.txt"
    path.write_bytes(TATOEBA.encode("utf-8"))
    return path


def test_reads_the_chosen_columns_and_ignores_the_rest(tatoeba):
    assert read_pairs(tatoeba, src_col=1, tgt_col=0) == [("嗨。", "Hi."), ("我爱你。", "I love you."),
                                                        ("汤姆不在这儿。", "Tom isn't here.")]
    assert read_pairs(tatoeba)[0] == ("Hi.", "嗨。")


def test_reading_errors_name_the_line_and_the_argument(tmp_path, tatoeba):
    short = tmp_path / "short.txt"
    short.write_text("a\tb\nonly one column\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: expected at least 2 tab-separated columns .* got 1"):
        read_pairs(short)
    with pytest.raises(ValueError, match="line 1: expected at least 4 tab-separated columns"):
        read_pairs(tatoeba, src_col=3, tgt_col=0)
    with pytest.raises(ValueError, match="tgt_col: expected a column other than src_col=1, got 1"):
        read_pairs(tatoeba, src_col=1, tgt_col=1)
    with pytest.raises(ValueError, match="src_col: expected a column number >= 0, got -1"):
        read_pairs(tatoeba, src_col=-1)
    empty = tmp_path / "empty.txt"
    empty.write_text("\t\n \t x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentence pair found"):
        read_pairs(empty)


def test_vocabularies_put_the_special_tokens_first_and_split_per_level():
    chinese = build_vocabulary(["我爱你。", "你好。"], "char")
    assert chinese.tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert chinese.tokens[3:] == ["。", "你", "好", "我", "爱"]                      # by count, then by token
    english = build_vocabulary(["I love you.", "Tom isn't here!", "I see."], "word", min_count=2)
    assert english.tokens == ["<unk>", "<s>", "</s>", ".", "I"]
    capped = build_vocabulary(["a b c a b a"], "word", max_size=5)
    assert capped.tokens == ["<unk>", "<s>", "</s>", "a", "b"]
    assert check_vocabulary(chinese, "v") is chinese
    with pytest.raises(ValueError, match=r"src_vocab: expected a vocabulary starting \['<unk>', '<s>', '</s>'\]"):
        check_vocabulary(Vocabulary(["a", "b", "c"]), "src_vocab")
    with pytest.raises(ValueError, match="max_size: expected an integer > 3"):
        build_vocabulary(["a"], "char", max_size=3)


def test_encoding_wraps_targets_in_bos_eos_and_filters_by_length(tatoeba):
    pairs = read_pairs(tatoeba, src_col=1, tgt_col=0)
    src_vocab = build_vocabulary([s for s, _ in pairs], "char")
    tgt_vocab = build_vocabulary([t for _, t in pairs], "word")
    examples = encode_pairs(pairs, src_vocab, tgt_vocab)
    assert len(examples) == 3
    assert src_vocab.decode(examples[1].ids) == "我爱你。"
    assert examples[1].target[0] == BOS_ID and examples[1].target[-1] == EOS_ID
    assert tgt_vocab.decode(examples[1].target[1:-1]) == "I love you."
    short_sources = encode_pairs(pairs, src_vocab, tgt_vocab, max_src_len=4)          # 汤姆不在这儿。 is 7 chars
    assert [src_vocab.decode(e.ids) for e in short_sources] == ["嗨。", "我爱你。"]
    short_targets = encode_pairs(pairs, src_vocab, tgt_vocab, max_tgt_len=3)          # "I love you." is 4 tokens
    assert [src_vocab.decode(e.ids) for e in short_targets] == ["嗨。"]
    unknown = encode_pairs([("猫。", "Cats.")], src_vocab, tgt_vocab)[0]
    assert unknown.ids[0] == 0 and unknown.target[1] == 0
    with pytest.raises(ValueError, match="max_src_len: expected a positive integer or None, got 0"):
        encode_pairs(pairs, src_vocab, tgt_vocab, max_src_len=0)


def test_collate_pads_sources_with_lengths_and_targets_with_minus_one():
    batch = collate_pairs([Example([5, 6], target=[1, 7, 8, 9, 2]), Example([4, 4, 4], target=[1, 2])])
    assert batch.tokens.tolist() == [[5, 6, 0], [4, 4, 4]]
    assert batch.lengths.tolist() == [2, 3]
    assert batch.targets.tolist() == [[1, 7, 8, 9, 2], [1, 2, -1, -1, -1]]


def test_batches_hold_every_pair_once_and_bucket_by_length():
    generator = torch.Generator().manual_seed(0)
    examples = [Example(torch.randint(3, 9, (n,), generator=generator).tolist(), target=[1, n, 2])
                for n in torch.randint(1, 30, (500,), generator=generator).tolist()]
    bucketed = list(PairBatches(examples, 20))
    assert len(bucketed) == len(PairBatches(examples, 20)) == 25
    seen = sorted(tuple(row[:n].tolist()) for b in bucketed for row, n in zip(b.tokens, b.lengths))
    assert seen == sorted(tuple(e.ids) for e in examples)
    for batch in bucketed:                          # targets stay with their sources (the target holds n)
        assert batch.targets[:, 1].tolist() == batch.lengths.tolist()
    padding = sum(int(b.tokens.numel() - b.lengths.sum()) for b in bucketed)
    unsorted = sum(int(collate_pairs(examples[i:i + 20]).tokens.numel()) for i in range(0, 500, 20))
    assert padding < (unsorted - sum(len(e.ids) for e in examples)) / 4
