"""Reading the user's recordings: WAV with the standard library and NumPy, other formats through soundfile.

A RIFF/WAVE file is a list of chunks; ``fmt `` says how the samples are stored and ``data`` holds
them, interleaved by channel. The reader takes PCM of 8 (unsigned), 16, 24 and 32 bits and IEEE
float of 32 and 64 bits (``WAVE_FORMAT_EXTENSIBLE`` too), and scales them into [-1, 1]::

    x = (u - 128) / 128        8-bit unsigned
    x = s / 2^(b - 1)          b = 16, 24, 32-bit signed
    x = f                      float

A file of several channels is mixed down to mono (their mean), with a warning that says so.
FLAC, OGG, MP3 and the rest go through ``soundfile`` (the ``audio`` extra) when it is installed.
Every failure is a ``ValueError`` that names the file and what was expected; reads are bounded
(:data:`MAX_BYTES`), so a damaged header cannot ask for more memory than the file holds.
"""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_BYTES = 1 << 30                    # 1 GiB: about 9 hours of 16 kHz 16-bit mono
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
WIDTHS = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}
EXPECTED = "a mono or multichannel WAV file of PCM (8/16/24/32-bit) or float (32/64-bit) samples"


@dataclass(frozen=True)
class Audio:
    """A mono recording.

    Attributes:
        samples: ``(N,)`` float32 in [-1, 1].  rate: samples per second.
        channels: how many channels the file had (more than one: mixed down).
    """

    samples: np.ndarray
    rate: int
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def read_audio(path: str | Path) -> Audio:
    """A recording from a ``.wav`` file (:func:`read_wav`) or, through ``soundfile``, any format it reads.

    Raises:
        ValueError: naming the file: missing, empty, not a recording, no samples; a non-WAV file
            without ``soundfile`` installed.
    """
    path = Path(path)
    if path.suffix.lower() in (".wav", ".wave"):
        return read_wav(path)
    _check_file(path)
    try:
        import soundfile
    except ImportError:
        raise ValueError(f"{path}: reading {path.suffix or 'this'} files needs soundfile "
                         "(pip install 'rnnkit[audio]'); WAV files need nothing") from None
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:            # soundfile raises its own LibsndfileError and RuntimeErrors
        raise ValueError(f"{path}: not a readable recording ({type(err).__name__}: {err})") from None
    return _mono(path, samples, int(rate))


def read_wav(path: str | Path) -> Audio:
    """A recording from a RIFF/WAVE file (module docstring).

    Raises:
        ValueError: naming the file and what was expected: not a WAV, a corrupt or truncated header,
            a compressed format, a sample width other than those above, no samples.
    """
    path = Path(path)
    _check_file(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than the {MAX_BYTES} a recording may have")
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file (no RIFF/WAVE header), expected {EXPECTED}")
    chunks = _chunks(path, data)
    if b"fmt " not in chunks:
        raise ValueError(f"{path}: corrupt WAV header: no 'fmt ' chunk, expected {EXPECTED}")
    if b"data" not in chunks:
        raise ValueError(f"{path}: corrupt WAV file: no 'data' chunk, expected {EXPECTED}")
    form, channels, rate, width = _format(path, chunks[b"fmt "])
    payload = chunks[b"data"]
    frame = channels * width // 8
    if len(payload) < frame:
        raise ValueError(f"{path}: the WAV file holds no samples (zero-length data chunk)")
    usable = len(payload) - len(payload) % frame
    samples = _decode(payload[:usable], form, width).reshape(-1, channels)        # (N, channels)
    return _mono(path, samples, rate)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: expected a recording file, got a directory or special file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty, expected {EXPECTED}")


def _chunks(path: Path, data: bytes) -> dict[bytes, bytes]:
    """The first chunk of each id, each cut to its declared size (which must fit in the file)."""
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        body = data[offset + 8:offset + 8 + size]
        if len(body) < size:
            if chunk_id != b"data" or not body:
                raise ValueError(f"{path}: corrupt WAV header: the {chunk_id!r} chunk declares {size} bytes, "
                                 f"but only {len(body)} follow (a truncated file?)")
            raise ValueError(f"{path}: truncated WAV file: the data chunk declares {size} bytes, "
                             f"but the file holds {len(body)}")
        chunks.setdefault(chunk_id, body)
        offset += 8 + size + size % 2                                              # chunks are word-aligned
    return chunks


def _format(path: Path, fmt: bytes) -> tuple[int, int, int, int]:
    """``(format, channels, rate, bits)`` of a ``fmt `` chunk, checked."""
    if len(fmt) < 16:
        raise ValueError(f"{path}: corrupt WAV header: the 'fmt ' chunk has {len(fmt)} bytes, expected at least 16")
    form, channels, rate, _, _, width = struct.unpack("<HHIIHH", fmt[:16])
    if form == EXTENSIBLE and len(fmt) >= 26:
        form = struct.unpack("<H", fmt[24:26])[0]                                 # the subformat GUID's first field
    if form not in WIDTHS:
        raise ValueError(f"{path}: compressed WAV (format tag {form:#06x}) is not read, expected {EXPECTED}; "
                         "convert it, e.g. with ffmpeg -i IN -c:a pcm_s16le OUT.wav")
    if channels < 1 or rate < 1:
        raise ValueError(f"{path}: corrupt WAV header: {channels} channels at {rate} Hz")
    if width not in WIDTHS[form]:
        kind = "PCM" if form == PCM else "float"
        raise ValueError(f"{path}: {width}-bit {kind} samples, expected {EXPECTED}")
    return form, channels, rate, width


def _decode(payload: bytes, form: int, width: int) -> np.ndarray:
    """Interleaved samples as float32 in [-1, 1] (module docstring)."""
    if form == FLOAT:
        return np.frombuffer(payload, dtype=f"<f{width // 8}").astype(np.float32)
    if width == 8:
        return (np.frombuffer(payload, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 24:
        triples = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)           # two's complement
        return values.astype(np.float32) / float(1 << 23)
    return np.frombuffer(payload, dtype=f"<i{width // 8}").astype(np.float32) / float(1 << (width - 1))


def _mono(path: Path, samples: np.ndarray, rate: int) -> Audio:
    """``(N, channels)`` samples as an :class:`Audio`, mixed down (with a warning) when multichannel."""
    frames, channels = samples.shape
    if frames == 0:
        raise ValueError(f"{path}: the recording holds no samples (zero length)")
    if not np.isfinite(samples).all():
        raise ValueError(f"{path}: the recording holds NaN or infinite samples")
    if channels > 1:
        warnings.warn(f"{path}: {channels} channels, mixed down to mono (their mean); the models take one channel",
                      stacklevel=3)
    return Audio(np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32), rate, channels)
