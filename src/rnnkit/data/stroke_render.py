"""Drawing strokes: PNG images, SVG files and animated GIFs of the pen moving (Pillow).

A drawing is scaled by one factor on both axes so that its bounds fit the picture (``size`` high,
``aspect · size`` wide) less a margin of ``margin · size`` on every side, and centred: a point ``P``
lands on pixel ``(P - c) · s + (width, size) / 2`` with ``c`` the centre of its bounds and
``s = min((width - 2 margin size) / w, (1 - 2 margin) size / h)``. ``y`` points down, as in images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .strokes import Drawing

FORMATS = (".png", ".svg", ".gif")


def _placement(drawing: Drawing, size: int, margin: float, aspect: float) -> tuple[np.ndarray, float, tuple[int, int]]:
    """``(offset (2,), scale, (width, height))``: pixel = point · scale + offset, the drawing fitted into a
    picture ``size`` high and ``aspect · size`` wide, less the margin."""
    x0, y0, x1, y1 = drawing.bounds()
    width = round(aspect * size)
    scale = min((width - 2 * margin * size) / max(x1 - x0, 1e-9), (1 - 2 * margin) * size / max(y1 - y0, 1e-9))
    offset = np.array([width / 2, size / 2]) - np.array([(x0 + x1) / 2, (y0 + y1) / 2]) * scale
    return offset, scale, (width, size)


def raster(drawing: Drawing, size: int = 256, margin: float = 0.1, line_width: float | None = None,
           points: int | None = None, aspect: float = 1.0):
    """A white Pillow image ``size`` pixels high and ``aspect · size`` wide with the strokes in black.

    Arguments:
        line_width: pixels (default: size / 40, at least 1).  points: draw only the first N points
            (a frame of the pen moving), default all.
    """
    from PIL import Image, ImageDraw

    offset, scale, shape = _placement(drawing, size, margin, aspect)
    image = Image.new("L", shape, 255)
    pen = ImageDraw.Draw(image)
    width = max(1, round(line_width or size / 40))
    left = drawing.points if points is None else points
    for stroke in drawing.strokes:
        if left <= 0:
            break
        xy = [tuple(p) for p in (stroke[:left] * scale + offset).tolist()]
        left -= len(stroke)
        if len(xy) == 1:
            x, y = xy[0]
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
        else:
            pen.line(xy, fill=0, width=width, joint="curve")
            for x, y in (xy[0], xy[-1]):                                      # round caps
                pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return image


def grid(rows: Sequence[Sequence[Drawing | None]], cell: int = 128, margin: float = 0.1):
    """Drawings in a table of ``cell``-pixel squares with thin separators (None: an empty cell)."""
    from PIL import Image

    columns = max(len(r) for r in rows)
    image = Image.new("L", (columns * cell + columns - 1, len(rows) * cell + len(rows) - 1), 160)
    for i, row in enumerate(rows):
        for j, drawing in enumerate(row):
            square = Image.new("L", (cell, cell), 255)
            if drawing is not None:
                square = raster(drawing, cell, margin)
            image.paste(square, (j * (cell + 1), i * (cell + 1)))
    return image


def svg_text(drawing: Drawing, size: int = 256, margin: float = 0.1, note: str | None = None,
             aspect: float = 1.0) -> str:
    """An SVG document with one ``<polyline>`` per stroke (``note``: a comment, e.g. the data's license)."""
    offset, scale, (width, height) = _placement(drawing, size, margin, aspect)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    if note:
        lines.append(f"<!-- {note.replace('--', '-')} -->")
    lines.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                 f'viewBox="0 0 {width} {height}">')
    lines.append(f'<g fill="none" stroke="#000" stroke-width="{max(1.0, size / 40):g}" stroke-linecap="round" '
                 'stroke-linejoin="round">')
    for stroke in drawing.strokes:
        xy = stroke * scale + offset
        if len(xy) == 1:
            xy = np.concatenate([xy, xy])
        lines.append('<polyline points="' + " ".join(f"{x:.2f},{y:.2f}" for x, y in xy) + '"/>')
    lines.extend(["</g>", "</svg>", ""])
    return "\n".join(lines)


def save_drawing(drawing: Drawing, path: str | Path, size: int = 256, note: str | None = None,
                 frames: int = 48, milliseconds: int = 40, aspect: float = 1.0) -> Path:
    """Writes ``drawing`` as ``.png``, ``.svg`` or ``.gif`` (the pen moving: ``frames`` frames of
    ``milliseconds`` each, the finished drawing held for a second, looping), ``size`` pixels high and
    ``aspect · size`` wide; ``note`` goes into the file's comment. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: expected a .png, .svg or .gif file name")
    if suffix == ".svg":
        path.write_text(svg_text(drawing, size, note=note, aspect=aspect), encoding="utf-8")
    elif suffix == ".png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if note:
            info.add_text("Comment", note)
        raster(drawing, size, aspect=aspect).save(path, pnginfo=info)
    else:
        save_gif([raster(drawing, size, points=n, aspect=aspect) for n in frame_points(drawing.points, frames)], path,
                 milliseconds, note)
    return path


def frame_points(points: int, frames: int) -> list[int]:
    """How many points each of (at most) ``frames`` animation frames shows, the last one all ``points``."""
    return sorted({max(1, round(points * (k + 1) / frames)) for k in range(frames)})


def save_gif(images, path: str | Path, milliseconds: int = 40, note: str | None = None) -> None:
    """An animated, looping GIF of Pillow ``images`` (the last one held for a second)."""
    durations = [milliseconds] * (len(images) - 1) + [1000]
    extra = {"comment": note.encode("utf-8")} if note else {}
    images[0].save(path, save_all=True, append_images=list(images[1:]), duration=durations, loop=0,
                   optimize=True, **extra)
