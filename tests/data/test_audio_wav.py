"""WAV reading: every sample format against values written by hand, mixdown, and each bad file's message."""
import struct
import sys
import wave

import numpy as np
import pytest

from rnnkit.data.wav import read_audio, read_wav


def riff(fmt: bytes, data: bytes, extra: bytes = b"") -> bytes:
    """A RIFF/WAVE file of a ``fmt `` body, optional chunks, and a data body (written without the reader)."""
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


SAMPLES = [0.0, 0.5, -0.5, 0.25, -1.0]


@pytest.mark.parametrize("bits, encode", [
    (8, lambda x: bytes(int(round(v * 128 + 128)) if v < 1 else 255 for v in x)),
    (16, lambda x: struct.pack(f"<{len(x)}h", *(int(v * 32768) for v in x))),
    (24, lambda x: b"".join(int(v * 2 ** 23).to_bytes(3, "little", signed=True) for v in x)),
    (32, lambda x: struct.pack(f"<{len(x)}i", *(int(max(v * 2 ** 31, -2 ** 31)) for v in x))),
])
def test_pcm_widths_scale_into_unit_range(tmp_path, bits, encode):
    path = tmp_path / f"pcm{bits}.wav"
    path.write_bytes(riff(fmt_chunk(1, 1, 8000, bits), encode(SAMPLES)))
    audio = read_wav(path)
    assert audio.rate == 8000 and audio.channels == 1
    np.testing.assert_allclose(audio.samples, SAMPLES, atol=1e-7)


@pytest.mark.parametrize("bits", [32, 64])
def test_float_samples_pass_unchanged(tmp_path, bits):
    path = tmp_path / f"float{bits}.wav"
    path.write_bytes(riff(fmt_chunk(3, 1, 16000, bits), np.asarray(SAMPLES, dtype=f"<f{bits // 8}").tobytes()))
    np.testing.assert_allclose(read_wav(path).samples, SAMPLES)


def test_extensible_format_and_unknown_chunks(tmp_path):
    fmt = fmt_chunk(0xFFFE, 1, 8000, 16) + struct.pack("<HHI", 22, 16, 4) + struct.pack("<H", 1) + bytes(14)
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\0"                   # odd size: a pad byte follows
    path = tmp_path / "ext.wav"
    path.write_bytes(riff(fmt, struct.pack("<2h", 16384, -16384), odd_chunk))
    np.testing.assert_allclose(read_wav(path).samples, [0.5, -0.5])


def test_stdlib_wave_file_reads_back(tmp_path):
    path = tmp_path / "std.wav"
    values = np.array([0, 1000, -1000, 32767], dtype="<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(22050)
        out.writeframes(values.tobytes())
    audio = read_audio(path)
    assert audio.rate == 22050 and audio.seconds == pytest.approx(4 / 22050)
    np.testing.assert_allclose(audio.samples, values / 32768.0)


def test_stereo_is_mixed_down_with_a_warning(tmp_path):
    path = tmp_path / "stereo.wav"
    path.write_bytes(riff(fmt_chunk(1, 2, 8000, 16), struct.pack("<4h", 16384, 0, -16384, -16384)))
    with pytest.warns(UserWarning, match=r"stereo.wav: 2 channels, mixed down to mono"):
        audio = read_wav(path)
    assert audio.channels == 2
    np.testing.assert_allclose(audio.samples, [0.25, -0.5])


BAD = {
    "text.wav": (b"hello, this is not audio\n", "not a WAV file"),
    "empty.wav": (b"", "the file is empty"),
    "short-fmt.wav": (riff(b"\x01\x00\x01\x00", b"\0\0"), "corrupt WAV header"),
    "no-data.wav": (b"RIFF" + struct.pack("<I", 28) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
                    + fmt_chunk(1, 1, 8000, 16), "no 'data' chunk"),
    "zero.wav": (riff(fmt_chunk(1, 1, 8000, 16), b""), "holds no samples"),
    "width.wav": (riff(fmt_chunk(1, 1, 8000, 12), b"\0\0\0\0"), "12-bit PCM samples, expected"),
    "adpcm.wav": (riff(fmt_chunk(2, 1, 8000, 4), b"\0\0"), "compressed WAV"),
    "rate.wav": (riff(fmt_chunk(1, 1, 0, 16), b"\0\0"), "0 channels at|1 channels at 0 Hz"),
    "cut.wav": (riff(fmt_chunk(1, 1, 8000, 16), b"\0" * 100)[:-50], "truncated WAV file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_name_the_file_and_what_was_expected(tmp_path, name):
    content, message = BAD[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        read_audio(path)
    assert str(err.value).startswith(str(path))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_audio(tmp_path / "absent.wav")
    with pytest.raises(ValueError, match="expected a recording file"):
        read_wav(tmp_path)


def test_other_formats_without_soundfile_say_which_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)                           # import soundfile fails
    path = tmp_path / "speech.flac"
    path.write_bytes(b"fLaC\0\0\0\0")
    with pytest.raises(ValueError, match=r"speech.flac: reading .flac files needs soundfile .*rnnkit\[audio\]"):
        read_audio(path)
