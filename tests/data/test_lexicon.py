"""Dictionary match patterns: which dictionary words start and end at each character."""
import pytest

from rnnkit.data.lexicon import Lexicon
from rnnkit.data.sequences import TokenEncoder, collate
from rnnkit.data.textnorm import LATIN


def test_patterns_by_hand():
    lexicon = Lexicon(["北京", "天安门", "北京天安门广场", "门"], max_len=4)      # 门 and the 7-character word: out
    assert lexicon.words == {"北京", "天安门"} and lexicon.size == 64
    # 我 爱 北 京 天 安 门: 北京 starts at 2 (bit 0) and ends at 3 (bit 1); 天安门 starts at 4 (bit 2), ends at 6 (bit 3)
    assert lexicon.patterns(list("我爱北京天安门")) == [0, 0, 1, 2, 4, 0, 8]


def test_build_counts_words_seen_twice():
    lexicon = Lexicon.build([["北京", "欢迎", "你"], ["北京", "你好"]], min_count=2)
    assert lexicon.words == {"北京"}
    again = Lexicon.from_dict(lexicon.to_dict())
    assert again.words == lexicon.words and again.max_len == lexicon.max_len
    with pytest.raises(ValueError, match="max_len: expected an integer >= 2"):
        Lexicon([], max_len=1)
    with pytest.raises(ValueError, match="one-character tokens"):
        lexicon.patterns(["北京", "你"])


def test_the_encoder_matches_in_the_normal_form_and_collate_pads():
    sentences = [list("１９９７年到了"), list("１９９８年来了")]
    words = [["１９９７年", "到", "了"], ["１９９８年", "来", "了"]]
    encoder = TokenEncoder.build(sentences, "char", normalize="width-classes", lexicon_words=words, lexicon_max_len=5)
    assert encoder.lexicon.words == {"0000年"}                      # both years are one word in normal form
    short, long = encoder.example(list("2023年"), [0, 1, 1, 1, 2]), encoder.example(list("在2023年"), [3, 0, 1, 1, 1, 2])
    assert short.matches == [1 << 6, 0, 0, 0, 1 << 7] and long.matches == [0, 1 << 6, 0, 0, 0, 1 << 7]
    assert short.ids == long.ids[1:]                                  # ASCII digits read as the corpus's １９９７
    batch = collate([long, short])
    assert batch.lexicon.tolist() == [long.matches, short.matches + [0]]
    again = TokenEncoder.from_dict(encoder.to_dict())
    assert again.normalize == "width-classes" and again.lexicon.words == encoder.lexicon.words
    old = TokenEncoder.from_dict({"vocab": encoder.vocab.to_dict(), "bigram_vocab": None})   # a checkpoint from before
    assert old.normalize is None and old.lexicon is None and old.example(list("年")).matches is None


def test_read_dictionary_takes_each_lines_first_field(tmp_path):
    from rnnkit.data.lexicon import read_dictionary

    path = tmp_path / "dict.txt"
    path.write_bytes("\ufeff北京 2 ns\n\n天安门\t5\n  人民  \n".encode("utf-8"))   # jieba lines, a BOM, blanks
    assert read_dictionary(path) == ["北京", "天安门", "人民"]
    path.write_bytes("北京\n天安门\n".encode("utf-8") + "人民\n".encode("gbk"))
    with pytest.raises(ValueError, match=r"dict.txt: line 3 is not UTF-8"):
        read_dictionary(path)
    path.write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no words"):
        read_dictionary(path)
    with pytest.raises(ValueError, match="missing.txt: cannot be read"):
        read_dictionary(tmp_path / "missing.txt")


def test_the_encoder_joins_an_outside_dictionary_to_the_training_words_in_the_normal_form():
    sentences, words = [list("北京欢迎你"), list("北京你好")], [["北京", "欢迎", "你"], ["北京", "你好"]]
    outside = ["ＡＰＥＣ会议", "天安门", "一"]                          # full-width Latin; a 1-character word: no match
    both = TokenEncoder.build(sentences, "char", normalize="width-classes", lexicon_words=words, lexicon_max_len=6,
                              dictionary=outside)
    assert both.lexicon.words == {"北京", LATIN * 4 + "会议", "天安门"}
    alone = TokenEncoder.build(sentences, "char", normalize="width-classes", dictionary=outside)
    assert alone.lexicon.words == {"天安门"}                             # max_len 4: the 6-character word is out
    assert alone.example(list("到天安门")).matches == [0, 1 << 2, 0, 1 << 3]
    assert TokenEncoder.build(sentences, "char").lexicon is None         # neither: no lexicon features
