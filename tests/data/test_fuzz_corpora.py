"""Property-based fuzzing of the readers of the user's files: any bytes give a corpus or a ValueError that
names the file, never another exception. Each reader also meets damaged versions of a good file."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data import Vocabulary, text_file
from rnnkit.data.classification import load_labelled_texts
from rnnkit.data.pairs import read_pairs
from rnnkit.data.series import read_series_csv
from rnnkit.data.tagging import load_tagging_corpus

GOOD = {
    "text": "床前明月光，\n疑是地上霜。\nThe cat sat on the mat.\n".encode("utf-8"),
    "labelled": "text,label\n好,pos\n差,neg\n很好,pos\n很差,neg\n".encode("utf-8"),
    "pairs": "I see.\t我明白了。\nGo.\t走。\nHi.\t你好。\n".encode("utf-8"),
    "series": ("time,value\n" + "".join(f"{t},{1 + (t % 5) / 2}\n" for t in range(24))).encode("ascii"),
    "conll": "Anna B-PER\nvisited O\nRome B-LOC\n\nLi B-PER\nsaw O\nParis B-LOC\n".encode("utf-8"),
}


def read_text_corpus(path):
    corpus = text_file(path)
    Vocabulary.build(corpus.text, "char")
    return corpus


READERS = {
    "text": read_text_corpus,
    "labelled": lambda path: load_labelled_texts(str(path)),
    "pairs": lambda path: read_pairs(path),
    "series": lambda path: read_series_csv(path),
    "conll": lambda path: load_tagging_corpus(str(path), file_format="conll"),
}
SUFFIX = {"text": ".txt", "labelled": ".csv", "pairs": ".tsv", "series": ".csv", "conll": ".conll"}


def damaged(data: bytes):
    """Truncations, flipped and zeroed bytes, and insertions of a good file."""
    positions = st.integers(0, max(len(data) - 1, 0))
    return st.one_of(
        positions.map(lambda n: data[:n]),
        st.tuples(positions, st.integers(1, 255)).map(lambda p: data[:p[0]] + bytes([data[p[0]] ^ p[1]]) + data[p[0] + 1:]),
        st.tuples(positions, st.integers(1, 16)).map(lambda p: data[:p[0]] + b"\x00" * p[1] + data[p[0] + p[1]:]),
        st.tuples(positions, st.binary(min_size=1, max_size=8)).map(lambda p: data[:p[0]] + p[1] + data[p[0]:]),
        st.binary(max_size=200),
    )


@pytest.mark.parametrize("kind", sorted(READERS))
def test_any_bytes_give_a_corpus_or_a_value_error_naming_the_file(kind, tmp_path_factory):
    directory = tmp_path_factory.mktemp(kind)

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(damaged(GOOD[kind]))
    def check(data):
        path = directory / f"input{SUFFIX[kind]}"
        path.write_bytes(data)
        try:
            READERS[kind](path)
        except ValueError as err:
            assert str(path) in str(err) or str(err).split(":")[0] in ("encoding", "text_column", "label_column",
                                                                      "column", "src_col", "tgt_col", "corpus",
                                                                      "file_format"), str(err)

    check()


def test_the_good_files_read(tmp_path):
    """The fuzz starts from files that read."""
    sizes = {}
    for kind, data in GOOD.items():
        path = tmp_path / f"good-{kind}{SUFFIX[kind]}"
        path.write_bytes(data)
        sizes[kind] = READERS[kind](path)
    assert sizes["text"].text == GOOD["text"].decode("utf-8")
    assert len(sizes["labelled"].label_names) == 2 and len(sizes["pairs"]) == 3
    assert list(sizes["series"].values[:6]) == [1.0, 1.5, 2.0, 2.5, 3.0, 1.0] and len(sizes["series"].values) == 24
    assert len(sizes["conll"].sentences) == 2
