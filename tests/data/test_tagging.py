"""Tagging data: BMES / BIO round trips, scheme detection, the pd98 corpora, user files, splits."""
import pytest

from rnnkit.data.splits import split_indices
from pathlib import Path

from rnnkit.data.tagging import (bio_tags, bmes_tags, detect_scheme, entity_spans, load_tagging_corpus,
                                 merge_person_names, read_segmented, repair_bio, word_spans, words_from_bmes)

SEG_WEB = Path(__file__).parents[2] / "benchmarks" / "data" / "seg-web50.tsv"


@pytest.mark.parametrize("words", [["迈向", "充满", "希望", "的", "新", "世纪"], ["一九九八年"], ["的"], ["ab", "c", "def"]])
def test_bmes_round_trip(words):
    tags = bmes_tags(words)
    assert len(tags) == len("".join(words))
    assert words_from_bmes(list("".join(words)), tags) == words


def test_bmes_tags_by_hand():
    assert bmes_tags(["迈向", "的", "一九九八"]) == ["B", "E", "S", "B", "M", "M", "E"]


def test_invalid_bmes_still_covers_every_character():
    assert words_from_bmes(list("abcd"), ["B", "B", "M", "S"]) == ["a", "bc", "d"]
    assert words_from_bmes(list("abc"), ["M", "E", "E"]) == ["ab", "c"]


def test_word_spans_are_offsets_into_the_raw_text_and_stop_at_spaces():
    text = " 用 iPhone 15拍照 "
    tags = bmes_tags(["用", "iPhone15", "拍照"])                      # a tagger that joins across the space
    spans = word_spans(text, tags)
    assert spans == [(1, 2), (3, 9), (10, 12), (12, 14)]
    assert [text[a:b] for a, b in spans] == ["用", "iPhone", "15", "拍照"]
    with pytest.raises(ValueError, match="expected one tag per token"):
        word_spans(text, tags[:-1])


def test_the_hand_segmented_web_set_reads_and_checks(tmp_path):
    pairs = read_segmented(SEG_WEB)
    assert len(pairs) == 50 and sum(len(words) for _, words in pairs) == 542
    assert ("我在2023年买了iPhone 15，花了5999元。", "我 在 2023年 买 了 iPhone 15 ， 花 了 5999 元 。".split()) in pairs
    bad = tmp_path / "bad.tsv"
    bad.write_text("iPhone 15\tiPhone15\n", encoding="utf-8")
    with pytest.raises(ValueError, match="a word spans a space"):
        read_segmented(bad)
    bad.write_text("我们\t我 他\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the words join to '我他'"):
        read_segmented(bad)


@pytest.mark.parametrize("entities", [[], [(0, 2, "PER"), (3, 4, "LOC")], [(0, 1, "LOC"), (1, 3, "LOC")],
                                      [(0, 5, "ORG")]])
def test_bio_round_trip(entities):
    assert entity_spans(bio_tags(5, entities)) == entities


def test_bio_by_hand_and_bioes_spans():
    assert bio_tags(4, [(1, 3, "PER")]) == ["O", "B-PER", "I-PER", "O"]
    assert entity_spans(["S-LOC", "B-PER", "I-PER", "E-PER", "O", "E-ORG"]) == [
        (0, 1, "LOC"), (1, 4, "PER"), (5, 6, "ORG")]
    assert entity_spans(["B-PER", "I-LOC", "O", "I-PER"]) == [(0, 1, "PER"), (1, 2, "LOC"), (3, 4, "PER")]


def test_overlapping_entities_are_rejected():
    with pytest.raises(ValueError, match="entities: expected non-overlapping spans"):
        bio_tags(4, [(0, 2, "PER"), (1, 3, "LOC")])


def test_repair_iob1_and_detect_scheme():
    assert repair_bio(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == [
        "B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"]
    assert detect_scheme("BMES") == "bmes"
    assert detect_scheme(["O", "B-PER", "I-PER"]) == "bio"
    assert detect_scheme(["O", "S-PER", "E-PER", "B-PER"]) == "bioes"
    assert detect_scheme(["n", "v", "O"]) is None


def test_split_person_names_are_merged():
    words = [("江", "nr"), ("泽民", "nr"), ("李", "nr"), ("鹏", "nr"), ("克林顿", "nr"), ("欧阳", "nr"),
             ("修", "nr"), ("北京", "ns")]
    assert merge_person_names(words) == [("江泽民", "nr"), ("李鹏", "nr"), ("克林顿", "nr"), ("欧阳修", "nr"),
                                         ("北京", "ns")]


def test_pd98_corpora_align_and_match_their_sources():
    seg, ner = load_tagging_corpus("pd98-seg"), load_tagging_corpus("pd98-ner")
    assert len(seg.sentences) == len(ner.sentences) == 19484
    assert all(s[0] == n[0] for s, n in zip(seg.sentences[:500], ner.sentences[:500]))
    assert "".join(seg.sentences[0][0]) == "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）"
    assert words_from_bmes(*seg.sentences[1]) == ["中共中央", "总书记", "、", "国家", "主席", "江", "泽民"]
    tokens, tags = ner.sentences[1]
    assert [("".join(tokens[a:b]), k) for a, b, k in entity_spans(tags)] == [("中共中央", "ORG"), ("江泽民", "PER")]
    assert (seg.scheme, seg.level, seg.tags) == ("bmes", "char", ["B", "M", "E", "S"])
    assert ner.tags == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    train, dev, test = seg.split()
    assert (len(train), len(dev), len(test)) == (15588, 1948, 1948)
    assert [s[0] for s in ner.split()[2][:50]] == [s[0] for s in test[:50]]


def test_split_is_fixed_disjoint_and_complete():
    train, dev, test = split_indices(100, seed=3)
    assert (len(train), len(dev), len(test)) == (80, 10, 10)
    assert sorted(train + dev + test) == list(range(100))
    assert split_indices(100, seed=3) == (train, dev, test) != split_indices(100, seed=4)


def test_user_conll_and_word_tag_files(tmp_path):
    conll = tmp_path / "ner.conll"
    conll.write_text("-DOCSTART- -X- O\n\nEU NNP I-ORG\nrejects VBZ O\nGerman JJ I-MISC\n\nPeter NNP I-PER\n",
                     encoding="utf-8")
    corpus = load_tagging_corpus(str(conll))
    assert corpus.sentences == ((("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC")), (("Peter",), ("B-PER",)))
    assert (corpus.scheme, corpus.level) == ("bio", "word")
    pos = tmp_path / "pos.txt"
    pos.write_text("迈向/v  充满/v  希望/n\n１/m  张/q\n", encoding="utf-8")
    corpus = load_tagging_corpus(str(pos))
    assert corpus.sentences[1] == (("１", "张"), ("m", "q")) and corpus.scheme is None
    chars = tmp_path / "msra.txt"
    chars.write_text("中 B-LOC\n国 I-LOC\n人 O\n", encoding="utf-8")
    assert load_tagging_corpus(str(chars), file_format="conll").level == "char"


@pytest.mark.parametrize("text, fmt, message", [
    ("EU\n", "conll", "line 1: expected 'TOKEN ... TAG'"),
    ("a/b c\n", "word-tag", "line 1: expected 'word/tag' tokens, got 'c'"),
])
def test_bad_user_files_name_the_line(tmp_path, text, fmt, message):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_tagging_corpus(str(path), file_format=fmt)


def test_unknown_corpus_names_the_choices():
    with pytest.raises(ValueError, match="corpus: expected pd98-seg or pd98-ner or a CoNLL"):
        load_tagging_corpus("pd99-seg")


def test_voted_spans_keep_the_majoritys_boundaries_and_never_join_across_a_space():
    from rnnkit.data.tagging import voted_spans

    text = "我爱北京 iPhone15"                                    # offsets: 我0 爱1 北2 京3 _4 i5..e10 1 11 5 12
    a = [(0, 1), (1, 2), (2, 4), (5, 13)]
    b = [(0, 2), (2, 4), (5, 11), (11, 13)]
    c = [(0, 1), (1, 4), (5, 11), (11, 13)]
    assert voted_spans([text], [[a], [b], [c]]) == [[(0, 1), (1, 2), (2, 4), (5, 11), (11, 13)]]
    assert voted_spans([text], [[b], [b], [a]]) == [[(0, 2), (2, 4), (5, 11), (11, 13)]]
    assert voted_spans([text], [[a], [b]]) == [[(0, 2), (2, 4), (5, 13)]]   # a tie (1 of 2) is no majority
    assert voted_spans([text], [[a]]) == [a]                             # one member: its own words
    assert voted_spans(["  ", ""], [[[], []]]) == [[], []]
    with pytest.raises(ValueError, match=r"members: expected one list of spans per text \(1\).*got \[2\]"):
        voted_spans([text], [[a, a]])
