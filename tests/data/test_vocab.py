import pytest
import torch

from rnnkit.data import UNK, Vocabulary, join_tokens, tokenize


def test_char_round_trip_is_exact():
    text = "To be, or not\nto be: 床前明月光。\n"
    vocab = Vocabulary.build(text)
    ids = vocab.encode(text)
    assert ids.dtype == torch.long and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.tokens[0] == UNK and vocab.unk_id == 0


def test_build_orders_by_count_then_token_and_caps_size():
    vocab = Vocabulary.build("bbbaac", max_size=3)
    assert vocab.tokens == [UNK, "b", "a"]
    assert vocab.encode("abcz").tolist() == [2, 1, 0, 0]
    assert Vocabulary.build("aab c", min_count=2).tokens == [UNK, "a"]


def test_word_level_tokens_and_join():
    text = "Now, fair Hippolyta, our nuptial hour\nDraws on apace; bewitch'd!"
    assert tokenize(text, "word") == ["Now", ",", "fair", "Hippolyta", ",", "our", "nuptial", "hour", "\n",
                                      "Draws", "on", "apace", ";", "bewitch'd", "!"]
    vocab = Vocabulary.build(text, level="word")
    assert vocab.decode(vocab.encode(text)) == text
    assert join_tokens(["a", "(", "b", ")", "c"], "word") == "a (b) c"


def test_unknown_tokens_encode_to_unk_and_decode_literally():
    vocab = Vocabulary.build("the cat sat", level="word")
    assert vocab.decode(vocab.encode("the dog sat")) == "the <unk> sat"


def test_json_round_trip():
    vocab = Vocabulary.build("the cat sat\non the mat", level="word")
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.level == "word" and again.index == vocab.index
    assert Vocabulary.from_dict(Vocabulary.build("漢字\n").to_dict()).tokens == Vocabulary.build("漢字\n").tokens


def test_piece_streams_decode():
    vocab = Vocabulary.build("Hello , world !\nbye", level="word")
    ids = vocab.encode("Hello, world!\nbye").tolist()
    pieces = [vocab.piece(i, p) for p, i in zip([None, *ids[:-1]], ids)]
    assert "".join(pieces) == vocab.decode(ids) == "Hello, world!\nbye"


@pytest.mark.parametrize("call, message", [
    (lambda: Vocabulary(["a", "a"]), "duplicates"),
    (lambda: Vocabulary(["a"], level="byte"), "level"),
    (lambda: Vocabulary.build("abc", max_size=1), "max_size"),
    (lambda: Vocabulary.build("", level="char"), "no token"),
    (lambda: Vocabulary.build("ab").decode([5]), r"\[0, 3\)"),
    (lambda: Vocabulary.from_dict({"level": "char", "tokens": ["a"]}), "<unk>"),
])
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
