"""Untrusted weight files are read under caps: zip bombs, lying zip headers and huge HDF5 datasets stay small."""
import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from rnnkit.interop import FileFormatError, archives, keras_h5, read_weights_h5
from rnnkit.keras import layers, models

h5py = pytest.importorskip("h5py")
MiB = 2 ** 20
INFLATED = 32 * MiB       # what the bombs inflate to; each is about 33 KB on disk


def small_model():
    return models.Sequential([layers.Input((4, 2)), layers.LSTM(3), layers.Dense(1)])


def write_bomb(path, declared=None):
    """A ``.keras`` zip whose ``model.weights.h5`` inflates to INFLATED zero bytes; ``declared`` rewrites
    the size its headers give (a lying header)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.weights.h5", "w") as member:
            for _ in range(INFLATED // MiB):
                member.write(bytes(MiB))
    if declared is not None:
        data = bytearray(path.read_bytes())
        local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
        struct.pack_into("<I", data, local + 22, declared)
        struct.pack_into("<I", data, central + 24, declared)
        path.write_bytes(bytes(data))
    return path


def peak_bytes_of(load):
    """Runs ``load`` (which must fail with FileFormatError); returns (the error, the peak of traced memory)."""
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError) as caught:
            load()
        return caught.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_member_over_the_cap_is_refused_before_it_inflates(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 16 * MiB)
    path = write_bomb(tmp_path / "bomb.keras")
    assert path.stat().st_size < 200_000
    error, peak = peak_bytes_of(lambda: small_model().load_weights(path))
    assert str(error).startswith(f"filepath: {path}: model.weights.h5 declares 33,554,432 bytes, over the limit")
    assert peak < 4 * MiB


def test_bomb_under_the_cap_streams_to_disk_not_memory(tmp_path):
    path = write_bomb(tmp_path / "bomb.keras")
    error, peak = peak_bytes_of(lambda: small_model().load_weights(path))
    assert "bomb.keras (model.weights.h5): not a readable Keras .weights.h5 file" in str(error)
    assert peak < 4 * MiB          # the member went through in 1 MiB chunks, never whole


def test_a_header_that_lies_about_the_size_cannot_get_past_it(tmp_path):
    path = write_bomb(tmp_path / "liar.keras", declared=1000)
    error, peak = peak_bytes_of(lambda: small_model().load_weights(path))
    assert str(error).startswith(f"filepath: {path}: not a readable weights archive (BadZipFile: Bad CRC")
    assert peak < 4 * MiB


def test_inflated_bytes_are_counted_against_the_declared_size():
    class Overflowing:
        """An archive whose member yields more bytes than its entry declares."""

        def getinfo(self, name):
            info = zipfile.ZipInfo(name)
            info.file_size = 10
            return info

        def open(self, info):
            return io.BytesIO(bytes(5 * archives.CHUNK_BYTES))

    with pytest.raises(ValueError, match="config.json inflates past its declared 10 bytes"):
        archives.read_json_member(Overflowing(), "config.json")


def test_huge_hdf5_dataset_in_a_tiny_file_is_refused_unread(tmp_path):
    """A chunked dataset declares 8 GiB that the file never stores: reading it would allocate them all."""
    model = small_model()
    path = tmp_path / "huge.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as handle:
        del handle["layers/dense/vars/0"]
        handle["layers/dense/vars"].create_dataset("0", shape=(2 ** 31,), dtype="float32", chunks=(1024,))
    assert path.stat().st_size < 100_000
    error, peak = peak_bytes_of(lambda: model.load_weights(path))
    assert "/layers/dense/vars/0 has shape (2147483648,), expected (3, 1)" in str(error)
    error, peak_tree = peak_bytes_of(lambda: read_weights_h5(path))
    assert "/layers/dense/vars/0 holds 8,589,934,592 bytes, over the" in str(error)
    assert max(peak, peak_tree) < 4 * MiB


def test_whole_file_reads_cap_objects_and_bytes(tmp_path, monkeypatch):
    path = tmp_path / "many.weights.h5"
    with h5py.File(path, "w") as handle:
        for k in range(12):
            handle.create_group(f"layer_{k}/vars").create_dataset("0", data=np.zeros(100, "float32"))
    assert len(read_weights_h5(path)["children"]) == 12
    monkeypatch.setattr(keras_h5, "MAX_ARRAY_BYTES", 1000)
    with pytest.raises(FileFormatError, match="holds 400 bytes, over the 200 left to read"):
        read_weights_h5(path)
    monkeypatch.undo()
    monkeypatch.setattr(keras_h5, "MAX_OBJECTS", 13)
    with pytest.raises(FileFormatError, match="more than 13 groups and datasets"):
        read_weights_h5(path)
