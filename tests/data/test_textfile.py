import pytest

from rnnkit.data import load_corpus, read_text, text_file
from rnnkit.data.textfile import check_encoding


def test_reads_other_encodings_and_normalises_newlines(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("床前明月光，\r\n疑是地上霜。\r\n".encode("gb18030"))
    assert read_text(path, "gb18030") == "床前明月光，\n疑是地上霜。\n"
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffhello".encode("utf-8"))
    assert read_text(bom) == "hello"


def test_user_file_corpus_splits_contiguous_tail(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij", encoding="utf-8")
    corpus = load_corpus(str(path))
    assert corpus.documents == ("abcdefghij",)
    assert corpus.split(0.2, seed=1) == corpus.split(0.2, seed=2) == ("abcdefgh", "ij")


@pytest.mark.parametrize("content, encoding, message", [
    (b"", "utf-8", "empty"),
    (b"  \n\n", "utf-8", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "utf-8", "binary"),
    ("床前明月光".encode("gb18030"), "utf-8", "cannot be decoded as utf-8"),
])
def test_bad_files_raise_errors_naming_file_and_encoding(tmp_path, content, encoding, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_text(path, encoding)
    assert str(path) in str(info.value)


def test_missing_file_and_unknown_corpus(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        text_file(tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="poems, shakespeare, python or a text file"):
        load_corpus(str(tmp_path / "absent.txt"))


@pytest.mark.parametrize("encoding", ["utf8-typo", "base64", "rot13", "no-such-codec", ""])
def test_only_standard_text_encodings(tmp_path, encoding):
    """A third-party catch-all codec (the test environment's future-typing registers ``utf8-typo``, which
    rewrote "Hello, world!" into "Hello ,world !") and binary codecs are refused before reading."""
    path = tmp_path / "text.txt"
    path.write_text("Hello, world!", encoding="utf-8")
    with pytest.raises(ValueError, match=f"encoding: {encoding!r} is not one of Python's standard text encodings"):
        read_text(path, encoding)


@pytest.mark.parametrize("encoding, canonical", [("UTF8", "utf-8"), ("latin-1", "iso8859-1"), ("GB18030", "gb18030")])
def test_standard_encodings_by_any_spelling(encoding, canonical):
    assert check_encoding(encoding) == canonical
