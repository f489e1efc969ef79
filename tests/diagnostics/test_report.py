"""The diagnosis of a model: verdicts on linear RNNs whose gradient is known, the summary, the plots."""
import pytest
import torch

import rnnkit
from rnnkit.data.synthetic import SequenceBatch, adding_problem
from rnnkit.diagnostics import diagnose, plot_curves, plot_heatmap
from rnnkit.tasks.memory import MemoryModel, MemoryModelConfig

PNG = b"\x89PNG\r\n\x1a\n"


def linear_rnn(scale):
    """h_t = x_t U^T + scale * h_{t-1}: the gradient d steps back is exactly scale^d times the direct one."""
    model = MemoryModel(MemoryModelConfig(2, 1, "regression", "srn", 6, cell_options={"nonlinearity": "linear"}))
    with torch.no_grad():
        model.rnn.cell(0).weight_hh.copy_(scale * torch.eye(6))
    return model


def adding_batch(length=60, rows=8):
    return SequenceBatch(*adding_problem(rows, length, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("scale, verdict", [(1.0, "healthy"), (0.7, "vanishing"), (1.3, "exploding")])
def test_verdict_follows_the_recurrent_gain(scale, verdict):
    report = diagnose(linear_rnn(scale), adding_batch())
    assert report.verdict == verdict
    assert report.decay_per_step(0) == pytest.approx(scale, rel=0.05)
    # the Jacobian product of h_t = scale * h_{t-1} + ... is scale^d * I
    powers = scale ** torch.arange(20, dtype=torch.float64)
    torch.testing.assert_close(report.jacobian[0, :20], powers, rtol=1e-5, atol=0)
    assert report.spectra[0].radius == pytest.approx(scale)


def test_non_finite_gradients_are_exploding():
    model = linear_rnn(1.0)
    with torch.no_grad():
        model.readout.weight[0, 0] = float("inf")
    assert diagnose(model, adding_batch(20)).verdict == "exploding"


def test_summary_lists_lags_spectra_and_verdict():
    torch.manual_seed(0)
    model = MemoryModel(MemoryModelConfig(2, 1, "regression", "lstm", 8, layers=2, cell_options={"forget_bias": 1.0}))
    model.train()
    report = diagnose(model, adding_batch(), jacobian_rows=2)
    assert model.training                                                          # restored
    text = report.summary("lstm, untrained")
    lines = text.splitlines()
    assert lines[0] == "lstm, untrained"
    rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"])]
    assert [(r[0], r[1]) for r in rows] == [(l, d) for l in "01" for d in ("0", "1", "10", "50", "59")]
    assert "  layer 1 W_hf " in text and "spectral radius" in text
    assert lines[-1].startswith(f"verdict: {report.verdict} ")
    assert report.flow.norms.shape == (2, 60, 60) and report.jacobian.shape == (2, 60)


def test_diagnose_needs_a_diagnosable_model():
    with pytest.raises(ValueError, match="model: GRU lacks rnn, rnn_input, step_losses"):
        diagnose(rnnkit.GRU(2, 3), adding_batch())


def test_plots_are_png_files(tmp_path):
    report = diagnose(linear_rnn(0.9), adding_batch(12, 4))
    heatmap = plot_heatmap(report.flow, tmp_path / "heatmap.png", title="linear")
    curves = plot_curves({"by lag": report.flow.by_lag(0), "jacobian": report.jacobian[0]},
                         tmp_path / "by_lag.png", "norm")
    for path in (heatmap, curves):
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
