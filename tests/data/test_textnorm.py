"""Character normal forms: one symbol per character, full-width and half-width alike, digit and Latin classes."""
import pytest

from rnnkit.data.textnorm import DIGIT, LATIN, char_class, fold_width, normal_form

FULL = "２０２３年，ｉＰｈｏｎｅ　１５售价８９９９元（约１２．５％）「新」"
HALF = "2023年,iPhone 15售价8999元(约12.5%)“新”"


def test_full_and_half_width_text_read_the_same_one_symbol_per_character():
    assert len(FULL) == len(HALF)
    assert normal_form(FULL, "width-classes") == normal_form(HALF, "width-classes")
    assert "".join(normal_form(HALF, "width-classes")) == "0000年,aaaaaa 00售价0000元(约00.0%)“新”"
    assert [fold_width(c) for c in FULL] == list(HALF)


def test_classes_and_the_characters_left_alone():
    assert {char_class(c) for c in "0１9９"} == {DIGIT} and {char_class(c) for c in "aZｚÉé"} == {LATIN}
    for char in "中〇一…℃Ⅱ①·—。、":                  # NFKC would expand …, ℃, Ⅱ: they stay as they are
        assert char_class(char) == char
    assert normal_form(["1998年", "ＡＰＥＣ"], "width-classes") == ["0000年", "aaaa"]


def test_no_normalizer_keeps_tokens_and_a_bad_name_is_refused():
    assert normal_form(list("１a"), None) == ["１", "a"]
    with pytest.raises(ValueError, match="normalize: expected one of width-classes"):
        normal_form(["a"], "nfkc")
