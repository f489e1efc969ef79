"""Stroke geometry invariants, the offset format, batches, and what the renderers draw."""
import numpy as np
import pytest
import torch

from rnnkit.data.stroke_files import read_svg
from rnnkit.data.stroke_render import frame_points, raster, save_drawing, svg_text
from rnnkit.data.strokes import (DOWN, END, UP, Augment, Drawing, StrokeBatches, from_offsets, layout, normalize,
                                 resample, resample_stroke, to_offsets)

pytestmark = pytest.mark.usefixtures("one_thread")
SQUARE = Drawing((np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([[4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])), "口")
NOTHING = Augment(scale=0, shear=0, rotate=0, shift=0, jitter=0)


def arc_length(stroke):
    return float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum())


def test_resampling_keeps_the_ends_and_spaces_points_equally_along_the_stroke():
    stroke = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])                   # length 7
    out = resample_stroke(stroke, 0.5)
    assert len(out) == 15
    np.testing.assert_allclose(out[[0, -1]], stroke[[0, -1]])
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    np.testing.assert_allclose(steps, 0.5)                                    # 7 / 14, the corner on a sample
    assert arc_length(out) == pytest.approx(7.0)
    on_polyline = (np.isclose(out[:, 1], 0) & (out[:, 0] <= 3)) | (np.isclose(out[:, 0], 3) & (out[:, 1] >= 0))
    assert on_polyline.all()


def test_resampling_never_spaces_wider_than_asked_and_a_dot_stays_a_dot():
    stroke = np.array([[0.0, 0.0], [1.0, 0.3], [1.0, 0.3], [0.2, 2.0]])        # a repeated point
    for spacing in (0.07, 0.3, 5.0):
        out = resample_stroke(stroke, spacing)
        assert np.linalg.norm(np.diff(out, axis=0), axis=1).max() <= spacing + 1e-12
        assert len(out) >= 2
    assert resample_stroke(np.array([[1.0, 2.0], [1.0, 2.0]]), 0.1).tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="spacing"):
        resample_stroke(stroke, 0.0)


def test_normalize_centres_and_scales_the_larger_side_to_two_keeping_the_aspect():
    wide = Drawing((np.array([[10.0, 5.0], [30.0, 5.0], [30.0, 15.0]]),))
    out = normalize(wide)
    assert out.bounds() == pytest.approx((-1.0, -0.5, 1.0, 0.5))
    canvas = normalize(wide, (0.0, 0.0, 40.0, 40.0))                       # a fixed box keeps the position
    assert canvas.bounds() == pytest.approx((-0.5, -0.75, 0.5, -0.25))


def test_offsets_round_trip_with_pen_states():
    offsets = to_offsets(SQUARE)
    assert offsets[:, 2].tolist() == [DOWN, UP, DOWN, DOWN, END]
    np.testing.assert_allclose(offsets[0, :2], [0.0, 0.0])                    # from the origin
    np.testing.assert_allclose(offsets[2, :2], [0.0, 0.0])                    # the next stroke starts where one ended
    back = from_offsets(offsets, "口")
    assert len(back.strokes) == 2
    for a, b in zip(back.strokes, SQUARE.strokes):
        np.testing.assert_allclose(a, b)
    cut = from_offsets(np.array([[1.0, 0, END], [5.0, 5.0, DOWN]]))           # points after the end are dropped
    assert cut.points == 1


def test_augment_keeps_strokes_and_their_order_and_is_the_identity_at_zero():
    rng = np.random.default_rng(0)
    drawing = resample(normalize(SQUARE), 0.2)
    same = NOTHING(drawing, rng)
    for a, b in zip(same.strokes, drawing.strokes):
        np.testing.assert_allclose(a, b)
    moved = Augment()(drawing, rng)
    assert [len(s) for s in moved.strokes] == [len(s) for s in drawing.strokes] and moved.label == "口"
    shift = max(np.abs(a - b).max() for a, b in zip(moved.strokes, drawing.strokes))
    assert 0 < shift < 0.5                                                    # small: |A - I| ~ 0.2, |t| <= 0.05


def test_stroke_batches_pad_and_draw_fresh_augmentations_each_pass():
    line = Drawing((np.array([[0, 0], [1, 0]]),), "一")
    drawings = [resample(normalize(SQUARE), 0.3), resample(normalize(line), 0.3)]
    batches = StrokeBatches(drawings, [0, 1], batch_size=2, shuffle=False, augment=Augment())
    first, second = list(batches)[0], list(batches)[0]
    assert first.offsets.shape == (2, drawings[0].points, 2)
    assert sorted(first.lengths.tolist()) == sorted(d.points for d in drawings)
    short = int(first.lengths.argmin())
    assert (first.pens[short, first.lengths[short]:] == END).all()
    assert (first.offsets[short, first.lengths[short]:] == 0).all()
    assert not torch.equal(first.offsets, second.offsets)                     # a new draw per pass
    with pytest.raises(ValueError, match="labels"):
        StrokeBatches(drawings, [0], 2)


def test_raster_puts_the_ink_inside_the_margin():
    image = raster(SQUARE, size=100, margin=0.1, line_width=2)
    ink = np.argwhere(np.asarray(image) < 128)                                # (row, column)
    rows, columns = ink[:, 0], ink[:, 1]
    assert image.size == (100, 100)
    assert 8 <= columns.min() <= 10 and 90 <= columns.max() <= 92             # x: 0..4 -> 10..90 pixels
    assert 8 <= rows.min() <= 10 and 90 <= rows.max() <= 92
    half = np.asarray(raster(SQUARE, size=100, margin=0.1, line_width=2, points=2)) < 128
    assert np.argwhere(half)[:, 0].max() <= 12                                # only the top stroke so far


def test_a_wide_drawing_widens_the_picture():
    word = layout([SQUARE, SQUARE], gap=2.0)                                  # 10 wide, 4 high
    assert word.bounds() == pytest.approx((0, 0, 10, 4)) and word.label == "口口"
    assert layout([word, SQUARE], gap=3.0, separator=" ").bounds()[2] == pytest.approx(17)
    assert layout([word, SQUARE], separator=" ").label == "口口 口"
    assert raster(word, size=50, margin=0.1).size == (50, 50)                  # fitted into a square
    wide = np.asarray(raster(word, size=50, margin=0.1, line_width=1, aspect=2.5)) < 128
    columns, rows = np.argwhere(wide)[:, 1], np.argwhere(wide)[:, 0]
    assert wide.shape == (50, 125) and rows.min() <= 5 and rows.max() >= 44  # the height filled: 4 -> 40 pixels
    assert 12 <= columns.min() <= 14 and 111 <= columns.max() <= 113         # 10 -> 100 pixels, centred


def test_svg_output_reads_back_as_the_same_strokes(tmp_path):
    path = save_drawing(SQUARE, tmp_path / "square.svg", size=100, note="a note -- with dashes")
    back = read_svg(path)
    assert [len(s) for s in back.strokes] == [2, 3]
    np.testing.assert_allclose(back.strokes[1], SQUARE.strokes[1] * 20 + 10, atol=0.01)
    assert "<!-- a note - with dashes -->" in svg_text(SQUARE, note="a note -- with dashes")


def test_png_and_gif_files(tmp_path):
    from PIL import Image

    png = save_drawing(SQUARE, tmp_path / "a.png", size=64, note="KanjiVG")
    with Image.open(png) as image:
        assert image.size == (64, 64) and image.text["Comment"] == "KanjiVG"
    gif = save_drawing(SQUARE, tmp_path / "a.gif", size=64, frames=4)
    with Image.open(gif) as image:
        assert image.n_frames == len(frame_points(SQUARE.points, 4)) == 4
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("L"))
    np.testing.assert_array_equal(last < 128, np.asarray(raster(SQUARE, 64)) < 128)
    with pytest.raises(ValueError, match="expected a .png, .svg or .gif"):
        save_drawing(SQUARE, tmp_path / "a.bmp")


def test_a_drawing_needs_finite_points():
    with pytest.raises(ValueError, match="at least one stroke"):
        Drawing(())
    with pytest.raises(ValueError, match="finite"):
        Drawing((np.array([[0.0, np.nan]]),))
