"""ONNX export of trained models, checked with onnxruntime (round trip within 1e-5)."""
import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.keras import layers, models

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from rnnkit.interop import check_onnx, export_onnx, run_onnx  # noqa: E402


def trained_forecaster():
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 8, 2)).astype("float32")
    y = x[:, -3:, 0].sum(axis=1)
    model = models.Sequential([layers.Input((None, 2)), layers.LSTM(6, return_sequences=True),
                               layers.GRU(5), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, torch.as_tensor(x[:4])


def test_trained_keras_model_round_trips_and_keeps_batch_and_time_free(tmp_path):
    model, x = trained_forecaster()
    path = export_onnx(model, x, tmp_path / "forecaster.onnx", dynamic_time=True)
    assert check_onnx(model, path, x) < 1e-5
    longer = torch.randn(9, 13, 2)
    assert check_onnx(model, path, longer) < 1e-5


def test_masked_embedding_bidirectional_model(tmp_path):
    model = models.Sequential([layers.Input((7,), dtype="int32"), layers.Embedding(12, 4, mask_zero=True),
                               layers.Bidirectional(layers.SimpleRNN(3)), layers.Dense(2)])
    tokens = torch.randint(1, 12, (5, 7))
    tokens[0, 4:] = 0
    tokens[3, 6:] = 0
    path = export_onnx(model, tokens, tmp_path / "tagger.onnx")
    assert check_onnx(model, path, tokens) < 1e-5
    other = torch.randint(1, 12, (2, 7))
    other[1, 2:] = 0
    assert check_onnx(model, path, other) < 1e-5


def test_loop_layers_export_unrolled_for_the_example_length(tmp_path):
    layer = rnnkit.LSTM(3, 4, layer_norm=True)           # a variant: rnnkit's Python loop, unrolled

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)[0]

    model, x = Model(), torch.randn(2, 5, 3)
    path = export_onnx(model, x, tmp_path / "loop.onnx")
    assert check_onnx(model, path, x) < 1e-5
    assert run_onnx(path, torch.randn(6, 5, 3))[0].shape == (6, 5, 4)
    with pytest.raises(Exception):
        run_onnx(path, torch.randn(2, 7, 3))


def test_example_inputs_must_be_tensors(tmp_path):
    with pytest.raises(ValueError, match="example_inputs"):
        export_onnx(torch.nn.Linear(2, 2), [[1.0, 2.0]], tmp_path / "x.onnx")
