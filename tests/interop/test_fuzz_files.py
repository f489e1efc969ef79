"""Property: damaged weight files (truncated, bits flipped, bytes zeroed or random) load as a working model
or raise ValueError; never another exception. Bounded: a few hundred examples, a few seconds."""
import zipfile

import numpy as np
import pytest

from rnnkit.keras import layers, models

pytest.importorskip("h5py")
pytest.importorskip("safetensors")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

FUZZ = hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None,
                           suppress_health_check=[hypothesis.HealthCheck.too_slow])
X = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")


def small_model():
    return models.Sequential([layers.Input((4, 2)), layers.LSTM(3), layers.Dense(1)])


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Valid files of each format: Keras .weights.h5 and .keras (weights in HDF5), rnnkit's safetensors
    weights and model.save archive."""
    folder = tmp_path_factory.mktemp("originals")
    model = small_model()
    model.save_weights(folder / "w.weights.h5")
    model.save_weights(folder / "w.safetensors")
    model.save(folder / "saved.keras")
    with zipfile.ZipFile(folder / "keras3.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
        archive.write(folder / "w.weights.h5", "model.weights.h5")
    return {name: (folder / name).read_bytes() for name in ("w.weights.h5", "w.safetensors", "saved.keras",
                                                           "keras3.keras")}


def damaged(data: bytes, draw) -> bytes:
    """``data`` truncated, with 1-8 bits flipped, or with a run of bytes zeroed or made random."""
    kind = draw(st.sampled_from(["truncate", "flip", "zero", "random"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:at]
    damaged = bytearray(data)
    if kind == "flip":
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            damaged[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(damaged)
    run = draw(st.integers(1, 64))
    replacement = bytes(run) if kind == "zero" else draw(st.binary(min_size=run, max_size=run))
    damaged[at:at + run] = replacement[:len(damaged) - at]
    return bytes(damaged)


def loads_or_refuses(load, path) -> None:
    """``load()`` gives a model that predicts (B, 1), or raises a ValueError naming ``path``; any other
    exception fails."""
    try:
        model = load()
    except ValueError as err:
        assert str(err).startswith(f"filepath: {path}")
        return
    assert model.predict(X, verbose=0).shape == (2, 1)


def load_weights_from(path):
    def load():
        model = small_model()
        model.load_weights(path)
        return model
    return load


@pytest.mark.parametrize("name", ["w.weights.h5", "w.safetensors", "saved.keras", "keras3.keras"])
def test_damaged_weight_files_load_or_raise_value_error(originals, tmp_path_factory, name):
    path = tmp_path_factory.mktemp("fuzz") / name

    @FUZZ
    @hypothesis.given(st.data())
    def check(data):
        path.write_bytes(damaged(originals[name], data.draw))
        loads_or_refuses(load_weights_from(path), path)
        if name == "saved.keras":
            loads_or_refuses(lambda: models.load_model(path), path)

    check()
