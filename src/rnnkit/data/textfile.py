"""Reading the user's own text files, with errors that name the file and the encoding."""
from __future__ import annotations

import codecs
import encodings
from pathlib import Path

# A NUL byte never occurs in text; in these encodings it would be a NUL character.
_NUL_FREE_ENCODINGS = ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "cp1252", "gb2312", "gbk",
                       "gb18030", "big5", "shift_jis", "euc-jp", "euc-kr")


def check_encoding(encoding: str) -> str:
    """The canonical name of one of Python's standard text encodings (``utf-8``, ``gb18030``, ...).

    Only the codecs of the standard library's ``encodings`` package count: a codec that a third-party
    package registers (some register catch-all codecs that rewrite the text) and binary codecs
    (``base64``, ``rot13``) are refused.

    Raises:
        ValueError: naming the encoding.
    """
    info = encodings.search_function(encoding.lower()) if isinstance(encoding, str) else None
    if info is None or not info._is_text_encoding:
        raise ValueError(f"encoding: {encoding!r} is not one of Python's standard text encodings "
                         "(try utf-8, gb18030, big5, latin-1, cp1252)")
    return info.name


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole text of a file, with universal newlines (``\\r\\n`` becomes ``\\n``).

    Arguments:
        path: a text file.
        encoding: its encoding, one of Python's standard text encodings (``utf-8``, ``gb18030``,
            ``latin-1``, ...; see :func:`check_encoding`).
    Returns:
        The decoded text (a leading byte-order mark dropped).
    Raises:
        ValueError: the file is missing, not a file, empty, binary (NUL bytes in an 8-bit encoding),
            or not decodable with ``encoding``; an unknown ``encoding``. The message names the file
            and the encoding.
    """
    path = Path(path)
    name = check_encoding(encoding)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: expected a text file, got a directory or special file")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path}: the file is empty (expected text in {name})")
    if b"\x00" in data and name in {codecs.lookup(e).name for e in _NUL_FREE_ENCODINGS}:
        raise ValueError(f"{path}: looks binary (it contains NUL bytes), expected a text file in {name}")
    try:
        text = data.decode(name)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: cannot be decoded as {name} (byte {err.start}: {err.reason}); "
                         "pass its encoding, e.g. --encoding gb18030 or --encoding latin-1") from err
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
