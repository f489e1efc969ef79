"""``rnnkit diagnose`` end to end: an untrained model, a trained run, clean errors."""
import pytest

from rnnkit.cli.main import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_untrained_srn_vanishes(capsys, tmp_path):
    assert main(["diagnose", "--cell", "srn", "--untrained", "--length", "60", "--hidden", "16",
                 "--batch-size", "8", "--jacobian-rows", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("untrained srn, H=16, adding lag 60\nsequence length T = 60;")
    lags = [line.split()[1] for line in out.splitlines() if line.startswith("    0 ")]
    assert lags == ["0", "1", "10", "50", "59"]
    assert "  layer 0 W_hh  ρ = " in out
    assert "verdict: vanishing" in out
    assert (tmp_path / "summary.txt").read_text().strip() in out
    for name in ("gradient_by_lag.png", "gradient_heatmap.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)


def test_trained_run_is_diagnosed_in_its_directory(capsys, tmp_path):
    assert main(["memory", "--task", "copy", "--lag", "4", "--cells", "lstm", "--steps", "3", "--hidden", "6",
                 "--layers", "2", "--test-size", "16", "--monitor-every", "2", "--run-dir", str(tmp_path)]) == 0
    run = tmp_path / "copy-4-lstm"
    assert (run / "checkpoints").is_dir()
    flow = (run / "diagnostics" / "gradient_flow.txt").read_text()
    assert [line.split()[0] for line in flow.splitlines()[2:5]] == ["0", "2", "3"]  # records at steps 0, 2, end
    assert (run / "diagnostics" / "gradient_flow_training.png").stat().st_size > 5000
    capsys.readouterr()
    assert main(["diagnose", str(run), "--batch-size", "4", "--jacobian-rows", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lstm, H=6, copy lag 4, step 3\nsequence length T = 24;")  # copy: T = lag + 2 * 10
    assert "  layer 1 W_hf " in out and out.count("verdict: ") == 1
    for name in ("summary.txt", "gradient_by_lag.png", "gradient_heatmap_layer0.png", "gradient_heatmap_layer1.png"):
        assert (run / "diagnostics" / name).is_file()


@pytest.mark.parametrize("argv, message", [
    ([], "expected RUN_DIR or --untrained --cell CELL (one of them)"),
    (["--untrained"], "--untrained: needs --cell srn|lstm|gru"),
    (["--untrained", "--cell", "gru", "--task", "digits", "--length", "9"],
     "--length: the digits are sequences of a fixed 64 pixels; got --length 9"),
    (["does-not-exist"], "run_dir: no complete checkpoint in does-not-exist"),
])
def test_bad_arguments_are_clean_errors(capsys, argv, message):
    assert main(["diagnose", *argv]) == 2
    assert f"rnnkit: error: {message}" in capsys.readouterr().err
