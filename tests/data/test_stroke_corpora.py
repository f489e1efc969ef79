"""The packaged stroke corpora (skipped without the handwriting extra) and the user's corpus files."""
import importlib.util
import json

import numpy as np
import pytest

from rnnkit.data.stroke_corpora import hershey, kanjivg, load_drawings


@pytest.mark.skipif(importlib.util.find_spec("kanji") is None, reason="needs kanjivg (the handwriting extra)")
def test_kanjivg_gives_strokes_in_writing_order_on_its_canvas():
    (yong,) = kanjivg("永")
    assert yong.label == "永" and yong.components == ("丶", "水") and len(yong.strokes) == 5
    x0, y0, x1, y1 = yong.bounds()
    assert -1 <= x0 < x1 <= 1 and -1 <= y0 < y1 <= 1
    assert yong.strokes[0][0, 1] < yong.strokes[1][0, 1]                      # the dot on top comes first
    with pytest.raises(ValueError, match="--chars: KanjiVG has no '☃'"):
        kanjivg("永☃")


@pytest.mark.skipif(importlib.util.find_spec("HersheyFonts") is None,
                    reason="needs Hershey-Fonts (the handwriting extra)")
def test_hershey_letters_of_each_font():
    letters = hershey("ab", fonts=("cursive", "futural"))
    assert [d.label for d in letters] == ["a", "b", "a", "b"]
    b = letters[1]
    assert b.bounds()[1] < letters[0].bounds()[1]                             # b's ascender rises above a


def test_a_users_json_corpus_is_normalised_and_filtered(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"label": "一", "strokes": [[[10, 10], [50, 10]]]},
                                {"label": "丨", "strokes": [[[0, 0], [0, 8]]]}]), encoding="utf-8")
    drawings = load_drawings(str(path))
    assert [d.label for d in drawings] == ["一", "丨"]
    np.testing.assert_allclose(drawings[0].strokes[0], [[-1, 0], [1, 0]])
    assert [d.label for d in load_drawings(str(path), "丨")] == ["丨"]
    with pytest.raises(ValueError, match="--chars"):
        load_drawings(str(path), "口")
