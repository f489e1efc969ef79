r"""Pictures for the image models: reading untrusted image files into tensors, light augmentation.

An image becomes ``uint8 (3, S, S)``: decoded by Pillow, transparency composited on white, padded to
a square with white (the aspect ratio is kept) and resized to S x S (Lanczos). The models take
``float (B, 3, S, S)`` in [0, 1] (:func:`to_unit`) and normalise it with the training images'
per-channel mean and standard deviation (:func:`pixel_statistics`)::

    x_norm[c] = (x[c] - mean_c) / std_c

Files are read as untrusted: at most :data:`MAX_FILE_BYTES` bytes, Pillow's decompression-bomb limit
(``Image.MAX_IMAGE_PIXELS``) enforced as an error, and anything Pillow cannot decode (a text file
named ``.png``, truncated bytes) is a ValueError naming the file. Caption files: :mod:`rnnkit.data.captions`.

Augmentation (training only): each image is shifted by up to ``shift`` pixels in each direction,
the uncovered border filled by repeating the edge pixels. There is no flipping: captions say
"left" and "right".
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch

MAX_FILE_BYTES = 32 * 2 ** 20               # 32 MiB: far above any picture a caption model reads
BACKGROUND = (255, 255, 255)


def _pillow():
    try:
        from PIL import Image
    except ImportError as err:
        raise ValueError("images: reading image files needs Pillow: pip install 'rnnkit[images]'") from err
    return Image


def read_image(path: str | Path, size: int) -> torch.Tensor:
    """The image file at ``path`` as ``uint8 (3, size, size)`` (see the module docstring).

    Raises:
        ValueError: the file is missing, larger than :data:`MAX_FILE_BYTES`, over Pillow's pixel limit,
            or not an image Pillow decodes; the message starts with the path.
    """
    Image = _pillow()
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: expected a positive integer, got {size!r}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such image file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_FILE_BYTES} an image may have")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                picture = _square_rgb(image, Image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ValueError(f"{path}: too many pixels for an image ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:       # Pillow's ways of saying "not an image"
        reason = "not a format Pillow knows" if str(path) in str(err) else str(err)
        raise ValueError(f"{path}: not a readable image ({reason})") from None
    picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    pixels = torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8)           # (S*S*3,)
    return pixels.view(size, size, 3).permute(2, 0, 1).contiguous()                        # (3, S, S)


def _square_rgb(image, Image):
    """RGB on a white square canvas, the picture centred (transparency composited on white)."""
    rgba = image.convert("RGBA")
    side = max(rgba.size)
    canvas = Image.new("RGBA", (side, side), (*BACKGROUND, 255))
    canvas.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return canvas.convert("RGB")


def read_images(paths: Sequence[str | Path], size: int) -> torch.Tensor:
    """:func:`read_image` of every path, stacked: ``uint8 (N, 3, size, size)``."""
    if not paths:
        raise ValueError("paths: expected at least one image file, got none")
    return torch.stack([read_image(path, size) for path in paths])


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """``uint8 (..., 3, S, S)`` -> ``float32`` in [0, 1]."""
    return images.float() / 255.0


def pixel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` of ``uint8 (N, 3, S, S)`` images on the [0, 1] scale (std at least 1e-3)."""
    unit = to_unit(images).transpose(0, 1).reshape(3, -1)                                  # (3, N*S*S)
    mean = unit.mean(dim=1)
    std = unit.std(dim=1).clamp_min(1e-3)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def random_shift(images: torch.Tensor, shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``(B, C, S, S)`` moved by its own offset in ``[-shift, shift]^2`` (edge pixels repeat).

    Arguments:
        images: any dtype.  shift: the largest move in pixels (0: unchanged).
        generator: the random draws' source (None: torch's global generator, which the trainer seeds).
    """
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise ValueError(f"shift: expected an integer >= 0, got {shift!r}")
    if shift == 0:
        return images
    batch, _, height, width = images.shape
    padded = torch.nn.functional.pad(images.float(), (shift,) * 4, mode="replicate").to(images.dtype)
    offsets = torch.randint(0, 2 * shift + 1, (batch, 2), generator=generator).tolist()       # (B, 2)
    return torch.stack([padded[b, :, dy:dy + height, dx:dx + width] for b, (dy, dx) in enumerate(offsets)])
