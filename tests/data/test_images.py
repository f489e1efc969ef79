"""Image files into tensors: drawn pictures keep their pixels, odd files are clean errors, shifts move pixels."""
import pytest
import torch
from PIL import Image, ImageDraw

from rnnkit.data.images import pixel_statistics, random_shift, read_image, read_images, to_unit


def _drawn(path, size=(32, 32), mode="RGB", background="white"):
    image = Image.new(mode, size, background)
    ImageDraw.Draw(image).rectangle((8, 8, 23, 23), fill=(255, 0, 0) if mode == "RGB" else (255, 0, 0, 255))
    image.save(path)
    return path


def test_a_drawn_square_keeps_its_colours_where_it_was_drawn(tmp_path):
    pixels = read_image(_drawn(tmp_path / "square.png"), 32)
    assert pixels.dtype == torch.uint8 and pixels.shape == (3, 32, 32)
    assert pixels[:, 16, 16].tolist() == [255, 0, 0] and pixels[:, 2, 2].tolist() == [255, 255, 255]
    small = read_image(tmp_path / "square.png", 16)
    assert small.shape == (3, 16, 16) and small[:, 8, 8].tolist() == [255, 0, 0]


def test_transparency_becomes_white_and_wide_images_are_padded_not_stretched(tmp_path):
    clear = read_image(_drawn(tmp_path / "clear.png", mode="RGBA", background=(0, 0, 0, 0)), 32)
    assert clear[:, 2, 2].tolist() == [255, 255, 255] and clear[:, 16, 16].tolist() == [255, 0, 0]
    wide = Image.new("RGB", (64, 32), "blue")
    wide.save(tmp_path / "wide.jpg")
    pixels = read_image(tmp_path / "wide.jpg", 32)
    assert pixels[:, 0, 16].tolist() == [255, 255, 255]            # the padding above the picture
    assert abs(int(pixels[2, 16, 16]) - 254) <= 3 and int(pixels[0, 16, 16]) <= 3


def test_files_that_are_not_images_name_the_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.png: not a readable image"):
        read_image(text, 16)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_drawn(tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(ValueError, match=r"cut\.png: not a readable image"):
        read_image(truncated, 16)
    with pytest.raises(ValueError, match=r"missing\.png: no such image file"):
        read_image(tmp_path / "missing.png", 16)
    with pytest.raises(ValueError, match="size: expected a positive integer"):
        read_image(tmp_path / "whole.png", 0)


def test_pillows_decompression_bomb_limit_stays_on(tmp_path, monkeypatch):
    path = _drawn(tmp_path / "bomb.png", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)          # 4,096 pixels: over the limit, under twice it
    with pytest.raises(ValueError, match=r"bomb\.png: too many pixels"):
        read_image(path, 16)


def test_statistics_and_unit_scale():
    images = torch.stack([torch.zeros(3, 4, 4, dtype=torch.uint8), torch.full((3, 4, 4), 255, dtype=torch.uint8)])
    mean, std = pixel_statistics(images)
    assert mean == (0.5, 0.5, 0.5) and all(abs(s - 0.508) < 0.01 for s in std)
    assert to_unit(images).max() == 1.0 and to_unit(images).dtype == torch.float32
    with pytest.raises(ValueError, match="paths: expected at least one image"):
        read_images([], 8)


def test_random_shift_moves_each_image_within_the_bound_and_repeats_edges():
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 4, 4] = 1.0
    moved = random_shift(image.repeat(50, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    positions = {tuple((m[0] == 1).nonzero()[0].tolist()) for m in moved}
    assert positions <= {(r, c) for r in range(2, 7) for c in range(2, 7)} and len(positions) > 10
    edge = torch.arange(9.0).repeat(9, 1)[None, None]                # columns 0..8
    shifted = random_shift(edge, 3, torch.Generator().manual_seed(1))
    assert set(shifted[0, 0].unique().tolist()) <= set(range(9)) and torch.equal(random_shift(edge, 0), edge)
