import pytest
import torch

from rnnkit.data import Vocabulary, poems
from rnnkit.tasks import LanguageModel, LanguageModelConfig, generate_text, poem_constraint, poem_length, poem_prime
from rnnkit.tasks.poems import is_ideograph


def test_untrained_model_under_the_template_writes_poem_shaped_text():
    vocab = Vocabulary.build(poems().text)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), embed_size=8, hidden_size=8, layers=1))
    text = "".join(generate_text(model, vocab, prime=poem_prime(), length=2 * poem_length(), seed=0,
                                 allowed=poem_constraint(vocab)))
    blocks = text.split("\n\n")
    assert blocks[2] == "" and len(blocks) == 3
    for poem in blocks[:2]:
        lines = poem.split("\n")
        assert len(lines) == 8
        assert [line[-1] for line in lines] == ["，", "。"] * 4
        assert all(len(line) == 8 and all(is_ideograph(c) for c in line[:7]) for line in lines)


def test_template_needs_a_poetry_vocabulary():
    with pytest.raises(ValueError, match="not a Chinese poetry vocabulary"):
        poem_constraint(Vocabulary.build("hello world\n"))
    with pytest.raises(ValueError, match="char-level"):
        poem_constraint(Vocabulary.build("床 前", level="word"))
    assert is_ideograph("床") and not is_ideograph("□") and not is_ideograph("，")


def test_poem_prime_ends_with_the_blank_line_between_poems():
    assert poem_prime() == "。\n\n"
    assert poem_prime("春風一夜到江城。\n") == "春風一夜到江城。\n\n"
