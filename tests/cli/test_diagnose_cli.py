"""``rnnkit diagnose`` end to end: an untrained model, a trained run, clean errors."""
import pytest

from rnnkit.cli.main import main
from rnnkit.data import poems

PNG = b"\x89PNG\r\n\x1a\n"


def test_untrained_srn_vanishes(capsys, tmp_path):
    assert main(["diagnose", "--cell", "srn", "--untrained", "--lag", "60", "--hidden-size", "16",
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
    assert main(["memory", "--task", "copy", "--lag", "4", "--cell", "lstm", "--max-steps", "3", "--hidden-size", "6",
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


def test_language_model_run_is_diagnosed_on_its_validation_split(capsys, tmp_path):
    corpus = tmp_path / "poems.txt"
    corpus.write_text("\n\n".join(poems().documents[:40]), encoding="utf-8")
    run = tmp_path / "lm"
    assert main(["train", "lm", "--corpus", str(corpus), "--layers", "2", "--hidden-size", "12", "--embed-size", "8",
                 "--seq-len", "16", "--batch-size", "4", "--max-steps", "2", "--sample-length", "0",
                 "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(run), "--seq-len", "20", "--batch-size", "3", "--jacobian-rows", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("language model lstm, H=12 x 2, poems.txt validation windows of 20, step 2\n"
                          "sequence length T = 20;")
    lags = [line.split()[1] for line in out.splitlines() if line.startswith("    1 ")]
    assert lags == ["0", "1", "10", "19"]                                        # layer 1's rows
    assert out.count("verdict: ") == 1
    for name in ("summary.txt", "gradient_by_lag.png", "gradient_heatmap_layer0.png", "gradient_heatmap_layer1.png"):
        assert (run / "diagnostics" / name).is_file()
    assert main(["diagnose", str(run), "--seq-len", "100000"]) == 2
    assert "fewer than one window of 100000 + 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    ([], "expected RUN_DIR or --untrained --cell CELL (one of them)"),
    (["--untrained"], "--untrained: needs --cell srn|lstm|gru"),
    (["--untrained", "--cell", "gru", "--task", "digits", "--lag", "9"],
     "--lag: the digits are sequences of a fixed 64 pixels; got --lag 9"),
    (["does-not-exist"], "run_dir: no complete checkpoint in does-not-exist"),
])
def test_bad_arguments_are_clean_errors(capsys, argv, message):
    assert main(["diagnose", *argv]) == 2
    assert f"rnnkit: error: {message}" in capsys.readouterr().err
