"""SVG path data against hand-computed Bézier points; SVG / JSON drawing files, good and hostile."""
import json

import numpy as np
import pytest

from rnnkit.data.stroke_files import parse_path, read_drawing, read_drawings, read_json, read_svg

KANJIVG_LIKE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd" [
<!ATTLIST g
xmlns:kvg CDATA #FIXED "http://kanjivg.tagaini.net"
kvg:element CDATA #IMPLIED >
<!ATTLIST path
xmlns:kvg CDATA #FIXED "http://kanjivg.tagaini.net"
kvg:type CDATA #IMPLIED >
]>
<svg xmlns="http://www.w3.org/2000/svg" width="109" height="109" viewBox="0 0 109 109">
<g id="kvg:StrokePaths_0660e" style="fill:none;stroke:#000000;stroke-width:3;">
<g id="kvg:0660e" kvg:element="明">
  <g id="kvg:0660e-g1" kvg:element="日" kvg:position="left">
    <path id="kvg:0660e-s1" kvg:type="㇑" d="M10,10 L10,50"/>
    <g id="kvg:0660e-g2" kvg:element="口"><path id="kvg:0660e-s2" kvg:type="㇕" d="M10,10h20v40"/></g>
  </g>
  <g id="kvg:0660e-g3" kvg:element="月" kvg:position="right">
    <path id="kvg:0660e-s3" kvg:type="㇒" d="M60,10c0,20 0,40 -10,60"/>
  </g>
</g>
</g>
<g id="kvg:StrokeNumbers_0660e"><text transform="matrix(1 0 0 1 5 5)">1</text></g>
</svg>
"""


def cubic(p0, p1, p2, p3, t):
    p0, p1, p2, p3 = map(np.array, (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def test_a_cubic_is_sampled_at_its_exact_bezier_points():
    (stroke,) = parse_path("M0,0 C0,1 1,1 1,0", samples=4)
    # x(t) = 3t² - 2t³, y(t) = 3t(1 - t): t = 0, 1/4, 1/2, 3/4, 1
    expected = [[0, 0], [0.15625, 0.5625], [0.5, 0.75], [0.84375, 0.5625], [1, 0]]
    np.testing.assert_allclose(stroke, expected, atol=1e-12)


def test_relative_curves_and_the_reflected_control_point_of_s():
    (stroke,) = parse_path("m10,10 c0,10 10,10 10,0 s10,-10 10,0", samples=2)
    # second segment: P0 (20,10), P1 = reflection of (20,20) about P0 = (20,0), P2 (30,0), P3 (30,10)
    np.testing.assert_allclose(stroke[2], [20, 10])
    np.testing.assert_allclose(stroke[3], cubic((20, 10), (20, 0), (30, 0), (30, 10), 0.5))
    np.testing.assert_allclose(stroke[3], [25, 2.5])
    np.testing.assert_allclose(stroke[-1], [30, 10])


def test_quadratics_and_t_reflection():
    (stroke,) = parse_path("M0,0 Q1,1 2,0 T4,0", samples=2)
    # Q midpoint: .25 (0,0) + .5 (1,1) + .25 (2,0); T's control = reflection of (1,1) about (2,0) = (3,-1)
    np.testing.assert_allclose(stroke, [[0, 0], [1, 0.5], [2, 0], [3, -0.5], [4, 0]])


def test_lines_implicit_repeats_and_close_path():
    (stroke,) = parse_path("M0 0 10 0 V10 H0 Z")
    np.testing.assert_allclose(stroke, [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]])
    (relative,) = parse_path("m1,1 l2,0 h1 v-1 l-.5.5")           # '-.5.5' is two numbers
    np.testing.assert_allclose(relative, [[1, 1], [3, 1], [4, 1], [4, 0], [3.5, 0.5]])


def test_each_subpath_is_a_stroke():
    strokes = parse_path("M0,0 L1,0 M5,5 L5,6 L5,7")
    assert [len(s) for s in strokes] == [2, 3]


@pytest.mark.parametrize("d, message", [("L1,1", "begin with a command"), ("M0,0 C1,1", "C expects 6 numbers"),
                                        ("M0,0 A1,1 0 0 1 2,2", "arc"), ("M0,0 L1,x", "unexpected"),
                                        ("1,2", "begin with a command")])
def test_malformed_path_data_is_a_value_error(d, message):
    with pytest.raises(ValueError, match=message):
        parse_path(d)


def test_a_kanjivg_file_gives_strokes_in_order_its_character_and_components(tmp_path):
    path = tmp_path / "0660e.svg"
    path.write_text(KANJIVG_LIKE, encoding="utf-8")
    drawing = read_svg(path)
    assert drawing.label == "明" and drawing.components == ("日", "月")
    assert len(drawing.strokes) == 3
    np.testing.assert_allclose(drawing.strokes[0][[0, -1]], [[10, 10], [10, 50]])
    np.testing.assert_allclose(drawing.strokes[1], [[10, 10], [30, 10], [30, 50]])
    np.testing.assert_allclose(drawing.strokes[2][-1], [50, 70])
    assert read_drawing(path).points == drawing.points


def test_polylines_and_lines_are_strokes(tmp_path):
    path = tmp_path / "mine.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg"><polyline points="0,0 1,1 2,0"/>'
                    '<line x1="0" y1="5" x2="3" y2="5"/></svg>', encoding="utf-8")
    drawing = read_svg(path)
    np.testing.assert_allclose(drawing.strokes[0], [[0, 0], [1, 1], [2, 0]])
    np.testing.assert_allclose(drawing.strokes[1], [[0, 5], [3, 5]])


@pytest.mark.parametrize("text, message", [
    ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     '<svg><path d="M0,0 L1,1"/><text>&b;</text></svg>', "entities"),
    ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>', "entities"),
    ("<svg><path d='M0,0 L1,1'></svg>", "not a well-formed SVG"),
    ("<svg><rect width='3'/></svg>", "no strokes"),
    ("<svg><path id='s1' d='M0,0 Q1'/></svg>", "path 's1'"),
])
def test_hostile_or_malformed_svg_is_a_value_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.svg"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        read_svg(path)
    assert str(err.value).startswith(str(path))


def test_reads_are_bounded(tmp_path):
    path = tmp_path / "big.svg"
    path.write_text("<svg>" + " " * 200 + "</svg>", encoding="utf-8")
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        read_svg(path, limit=100)


def test_json_drawings_and_their_errors(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"label": "一", "strokes": [[[0, 0], [1, 0]], [[0.5, 0.5]]]}), encoding="utf-8")
    drawing = read_json(good)
    assert drawing.label == "一" and [len(s) for s in drawing.strokes] == [2, 1]
    cases = [({"strokes": []}, "list of strokes"), ([[[0, 0], [1]]], "stroke 1"), ([[[0, "x"]]], "stroke 1"),
             ([[[0, True]]], "stroke 1"), ({"label": 3, "strokes": [[[0, 0]]]}, "'label'")]
    for value, message in cases:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(value), encoding="utf-8")
        with pytest.raises(ValueError, match=message) as err:
            read_json(bad)
        assert str(err.value).startswith(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff[[")
    with pytest.raises(ValueError, match="not a JSON file"):
        read_drawing(broken)
    with pytest.raises(ValueError, match="expected a .svg or .json"):
        read_drawing(tmp_path / "a.png")


def test_a_corpus_file_of_json_lines_needs_labels(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"label": "一", "strokes": [[[0, 0], [1, 0]]]}\n\n'
                    '{"label": "丨", "strokes": [[[0, 0], [0, 1]]]}\n', encoding="utf-8")
    assert [d.label for d in read_drawings(path)] == ["一", "丨"]
    path.write_text('{"strokes": [[[0, 0], [1, 0]]]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus.jsonl:1: a training drawing needs a 'label'"):
        read_drawings(path)
