"""Every loader turns a malformed file into a ValueError (FileFormatError) that names the file and the fault."""
import json
import os
import zipfile

import numpy as np
import pytest

from rnnkit.interop import FileFormatError, read_weights_h5
from rnnkit.keras import layers, models

h5py = pytest.importorskip("h5py")


def small_model():
    return models.Sequential([layers.Input((4, 2)), layers.LSTM(3), layers.Dense(1)])


def edited_h5(path, edit):
    small_model().save_weights(path)
    with h5py.File(path, "a") as handle:
        edit(handle)
    return path


def replace(handle, key, value):
    del handle[key]
    handle[key] = value


def zipped(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def saved_archive(tmp_path):
    path = tmp_path / "saved.keras"
    small_model().save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def string_var(handle):
    replace(handle, "layers/lstm/cell/vars/0", np.array([b"ab", b"cd"]))


def dangling_link(handle):
    replace(handle, "layers/lstm", h5py.SoftLink("/nowhere"))


def external_link(handle):
    replace(handle, "layers/dense", h5py.ExternalLink("/etc/passwd", "/x"))


def wrong_shape(handle):
    replace(handle, "layers/dense/vars/0", np.zeros((4, 1), "float32"))


def extra_weight(handle):
    handle["layers/dense/vars/2"] = np.zeros(1, "float32")


def gapped_keys(handle):
    handle["layers/dense/vars"].move("1", "7")


H5_CASES = {   # edit of a valid file -> what the message says (after "filepath: <path>: ")
    "string": (string_var, "/layers/lstm/cell/vars/0 holds values of dtype |S2, expected numbers"),
    "dangling": (dangling_link, "/layers/lstm is a soft link; weight files hold groups and datasets only"),
    "external": (external_link, "/layers/dense is an external link"),
    "shape": (wrong_shape, r"/layers/dense/vars/0 has shape \(4, 1\), expected \(3, 1\)"),
    "count": (extra_weight, "/layers/dense holds 3 weights, layer 'dense.*' has 2"),
    "keys": (gapped_keys, r"/layers/dense/vars holds keys \['0', '7'\], expected 0, 1, 2"),
}


@pytest.mark.parametrize("case", sorted(H5_CASES))
def test_malformed_weights_h5_names_the_file_and_the_fault(tmp_path, case):
    edit, fault = H5_CASES[case]
    path = edited_h5(tmp_path / f"{case}.weights.h5", edit)
    model = small_model()
    before = model.get_weights()
    with pytest.raises(FileFormatError, match=f"^filepath: {path}: {fault}"):
        model.load_weights(path)
    for kept, now in zip(before, model.get_weights()):   # nothing assigned from a file that failed
        np.testing.assert_array_equal(kept, now)


@pytest.mark.parametrize("content", [b"", os.urandom(2000), b"\x89HDF\r\n\x1a\n" + bytes(100)],
                         ids=["empty", "garbage", "truncated"])
def test_unreadable_hdf5_bytes(tmp_path, content):
    path = tmp_path / "bad.weights.h5"
    path.write_bytes(content)
    message = f"^filepath: {path}: not a readable Keras .weights.h5 file \\(OSError: "
    with pytest.raises(FileFormatError, match=message):
        small_model().load_weights(path)
    with pytest.raises(FileFormatError, match=message):
        read_weights_h5(path)


def test_whole_file_read_refuses_links_and_cycles(tmp_path):
    dangling = edited_h5(tmp_path / "dangling.weights.h5", dangling_link)
    with pytest.raises(FileFormatError, match=f"^filepath: {dangling}: /layers/lstm is a soft link"):
        read_weights_h5(dangling)
    cycle = edited_h5(tmp_path / "cycle.weights.h5", lambda handle: handle["layers"].__setitem__("loop",
                                                                                                handle["layers"]))
    with pytest.raises(FileFormatError, match="groups nest deeper than 64 \\(a cycle of links\\?\\)"):
        read_weights_h5(cycle)


def test_safetensors_weights(tmp_path):
    good = tmp_path / "good.safetensors"
    small_model().save_weights(good)
    data = good.read_bytes()
    for name, content in {"garbage": os.urandom(300), "truncated": data[:len(data) // 2], "empty": b""}.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        with pytest.raises(FileFormatError, match=f"^filepath: {path}: not a readable safetensors weights file "
                                                  r"\(SafetensorError: "):
            small_model().load_weights(path)
    other = tmp_path / "other.safetensors"
    models.Sequential([layers.Input((4, 2)), layers.LSTM(5), layers.Dense(1)]).save_weights(other)
    with pytest.raises(FileFormatError, match=r"^filepath: .*other.safetensors: 0:lstm.*/kernel has shape \(2, 20\)"):
        small_model().load_weights(other)


def test_model_archives(tmp_path):
    members = saved_archive(tmp_path)
    cases = {   # archive members -> what load_model says
        "no_config": ({k: v for k, v in members.items() if k != "config.json"}, "holds no config.json"),
        "bad_json": ({**members, "config.json": b"{not json"}, r"not a readable rnnkit.keras model archive "
                                                               r"\(JSONDecodeError: "),
        "not_a_config": ({**members, "config.json": json.dumps([1, 2])}, "config.json holds no model config"),
        "unknown_layer": ({**members, "config.json": json.dumps({"model": {"class_name": "Nope"}})},
                          r"not a readable .* \(ValueError: config: unknown layer class 'Nope'"),
        "keras_format": ({"config.json": "{}", "model.weights.h5": b""},
                         "not a model archive written by model.save .*call load_weights"),
    }
    for name, (content, fault) in cases.items():
        path = zipped(tmp_path / f"{name}.keras", content)
        with pytest.raises(FileFormatError, match=f"^filepath: {path}: {fault}"):
            models.load_model(path)
    not_zip = tmp_path / "plain.keras"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(FileFormatError, match=f"^filepath: {not_zip}: not a zip archive"):
        models.load_model(not_zip)


def test_weights_archives(tmp_path):
    empty = zipped(tmp_path / "empty.keras", {"config.json": "{}"})
    with pytest.raises(FileFormatError, match=f"^filepath: {empty}: holds neither model.weights.h5 nor"):
        small_model().load_weights(empty)
    garbage = zipped(tmp_path / "garbage.keras", {"model.weights.h5": os.urandom(500)})
    with pytest.raises(FileFormatError, match=f"^filepath: {garbage} \\(model.weights.h5\\): not a readable Keras "
                                              ".weights.h5 file"):
        small_model().load_weights(garbage)
    shape = edited_h5(tmp_path / "shape.weights.h5", wrong_shape)
    inside = zipped(tmp_path / "shape.keras", {"model.weights.h5": shape.read_bytes()})
    with pytest.raises(FileFormatError, match=r"\(model.weights.h5\): /layers/dense/vars/0 has shape \(4, 1\)"):
        small_model().load_weights(inside)


def test_file_format_errors_are_value_errors_and_missing_files_are_named(tmp_path):
    assert issubclass(FileFormatError, ValueError)
    with pytest.raises(ValueError, match="^filepath: .*nothing.weights.h5 does not exist"):
        small_model().load_weights(tmp_path / "nothing.weights.h5")
    with pytest.raises(FileFormatError, match="^filepath: .*nothing.keras: not a zip archive"):
        models.load_model(tmp_path / "nothing.keras")
