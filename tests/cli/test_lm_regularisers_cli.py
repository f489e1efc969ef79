"""``rnnkit train lm`` with AWD-LSTM's regularisers and NT-ASGD: the flags reach the model config and the
Trainer, the averaging state is checkpointed, and bad values exit 2 naming the flag."""
import json

import pytest

from rnnkit.cli.main import main
from rnnkit.train import load_checkpoint

TINY = ["--layers", "2", "--hidden-size", "12", "--embed-size", "8", "--seq-len", "12", "--batch-size", "4",
        "--sample-length", "0"]
AWD = ["--dropout", "0.3", "--locked-dropout", "--embedding-dropout", "0.1", "--weight-drop", "0.4", "--ar", "2",
       "--tar", "1", "--optimizer", "nt-asgd", "--lr", "1", "--nt-asgd-patience", "0", "--eval-every", "2"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    return path


def test_the_flags_reach_the_model_and_the_trainer(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(corpus), *TINY, *AWD, "--max-steps", "10",
                 "--run-dir", str(run)]) == 0
    assert "validation after 10 steps:" in capsys.readouterr().out
    checkpoint = load_checkpoint(run)
    assert {k: checkpoint.config[k] for k in ("dropout", "locked_dropout", "embedding_dropout", "weight_drop",
                                              "ar", "tar")} == {"dropout": 0.3, "locked_dropout": True,
                                                                "embedding_dropout": 0.1, "weight_drop": 0.4,
                                                                "ar": 2.0, "tar": 1.0}
    train_config = checkpoint.state["train_config"]
    assert train_config["optimizer"] == "nt-asgd" and train_config["nt_asgd_patience"] == 0
    averaging = checkpoint.state["nt_asgd"]
    assert len(averaging["losses"]) >= 1 and set(averaging) == {"losses", "start", "count"}
    assert json.loads((run / "test_scores.json").read_text())


@pytest.mark.parametrize("flag, value, message", [("--weight-drop", "1", "argument --weight-drop: expected a rate"),
                                                  ("--ar", "-1", "argument --ar: expected a finite number >= 0"),
                                                  ("--nt-asgd-patience", "x", "argument --nt-asgd-patience")])
def test_bad_values_exit_2_naming_the_flag(tmp_path, corpus, capsys, flag, value, message):
    code = main(["train", "lm", "--corpus", str(corpus), *TINY, flag, value, "--run-dir", str(tmp_path / "run")])
    assert code == 2 and message in capsys.readouterr().err
