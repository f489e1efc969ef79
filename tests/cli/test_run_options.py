"""Run options shared by every train command: --config files, the saved config.toml, --resume refusing a
changed model, fresh runs refusing another run's directory, --overwrite, a corpus changed under a run."""
import tomllib

import pytest

from rnnkit.cli.main import main
from rnnkit.data import poems
from rnnkit.train import load_checkpoint

TINY = ["--layers", "1", "--hidden-size", "12", "--embed-size", "8", "--seq-len", "16", "--batch-size", "4",
        "--sample-length", "0", "--quiet"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "poems.txt"
    path.write_text("\n\n".join(poems().documents[:40]), encoding="utf-8")
    return path


def saved(run):
    return tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))


def test_config_file_with_flags_overriding_it(tmp_path, corpus):
    config = tmp_path / "lm.toml"
    config.write_text(f'corpus = "{corpus}"\n[model]\nhidden_size = 10\nlayers = 1\n[training]\nlr = 0.01\n'
                      'max_steps = 2\n', encoding="utf-8")
    run = tmp_path / "run"
    argv = ["train", "lm", "--config", str(config), "--embed-size", "6", "--seq-len", "16", "--batch-size", "4",
            "--lr", "0.02", "--sample-length", "0", "--quiet", "--run-dir", str(run)]
    assert main(argv) == 0
    options = saved(run)
    assert (options["hidden_size"], options["embed_size"], options["lr"], options["max_steps"]) == (10, 6, 0.02, 2)
    assert options["corpus"] == str(corpus) and "run_dir" not in options and "config" not in options
    assert (run / "config.toml").read_text(encoding="utf-8").startswith("# rnnkit ")
    assert load_checkpoint(run).config["hidden_size"] == 10
    again = tmp_path / "again"                                     # the saved file reproduces the run
    assert main(["train", "lm", "--config", str(run / "config.toml"), "--run-dir", str(again), "--quiet"]) == 0
    assert saved(again) == options


@pytest.mark.parametrize("content, message", [
    ("hiden_size = 10\n", "unknown option 'hiden_size' for this command"),
    ("hidden_size = -3\n", "hidden_size: expected a positive integer, got '-3'"),
    ("hidden_size = 1.5\n", "hidden_size: expected a positive integer"),
    ("cell = \"rnn\"\n", "cell: expected one of srn, lstm, gru, got 'rnn'"),
    ("tie_weights = \"yes\"\n", "tie_weights: expected true or false, got 'yes'"),
    ("hidden_size = [1, 2]\n", "hidden_size: expected a single value"),
    ("hidden_size = \n", "is not valid TOML"),
])
def test_bad_config_files_are_clean_errors(tmp_path, corpus, capsys, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content, encoding="utf-8")
    assert main(["train", "lm", "--corpus", str(corpus), "--config", str(config), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", "lm", "--config", str(tmp_path / "none.toml")]) == 2
    assert "--config: cannot read" in capsys.readouterr().err


def test_resume_takes_the_saved_options_and_refuses_a_changed_model(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(corpus), *TINY, "--max-steps", "2", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "lm", "--run-dir", str(run), "--resume", "--hidden-size", "16", "--layers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--resume: model and data options cannot change on resume: --hidden-size 12 -> 16, --layers 1 -> 2" in err
    assert load_checkpoint(run).step == 2                          # nothing was touched
    assert main(["train", "lm", "--run-dir", str(run), "--resume", "--max-steps", "4", "--lr", "0.001"]) == 0
    captured = capsys.readouterr()
    assert "resuming with changed training options: --lr 0.002 -> 0.001, --max-steps 2 -> 4" in captured.err
    assert load_checkpoint(run).step == 4 and saved(run)["lr"] == 0.001


def test_fresh_run_refuses_another_runs_directory_and_overwrite_keeps_foreign_files(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    argv = ["train", "lm", "--corpus", str(corpus), *TINY, "--max-steps", "1", "--run-dir", str(run)]
    assert main(argv) == 0
    (run / "checkpoints" / "notes.txt").write_text("mine", encoding="utf-8")
    (run / "mine.txt").write_text("mine", encoding="utf-8")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "--overwrite" in err and "--resume" in err
    assert load_checkpoint(run).step == 1
    assert main([*argv, "--overwrite"]) == 0
    assert (run / "checkpoints" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (run / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_a_failed_start_leaves_the_directory_reusable(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "tagger", "--corpus", "pd99", "--run-dir", str(run)]) == 2
    assert main(["train", "tagger", "--corpus", "pd99", "--run-dir", str(run)]) == 2
    assert capsys.readouterr().err.count("corpus: expected pd98-seg or pd98-ner") == 2


def test_resume_warns_when_the_corpus_changed(tmp_path, corpus, capsys):
    text = tmp_path / "text.txt"
    text.write_text(corpus.read_text(encoding="utf-8"), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(text), *TINY, "--max-steps", "1", "--run-dir", str(run)]) == 0
    text.write_text("\n\n".join(poems().documents[40:80]), encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "lm", "--run-dir", str(run), "--resume", "--max-steps", "2"]) == 0
    assert "the training data no longer hashes as when" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--run-dir", "{file}"], "--run-dir: {file} is a file"),
    (["--device", "cuda:7"], "--device: cuda:7 asked for"),
    (["--resume", "--run-dir", "{empty}"], "--resume: no checkpoint in {empty}"),
])
def test_run_flags_are_checked_before_any_work(tmp_path, corpus, capsys, argv, message):
    import torch

    if "cuda:7" in argv and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 CUDA devices")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    names = {"file": tmp_path / "file", "empty": tmp_path / "empty"}
    argv = [a.format(**names) for a in argv]
    assert main(["train", "lm", "--corpus", str(corpus), *TINY, *argv]) == 2
    assert message.format(**names) in capsys.readouterr().err


def test_the_best_model_keeper_compares_against_what_best_holds_also_on_resume(tmp_path):
    """``RUN_DIR/best`` is replaced only by a better dev result (accuracy: higher) during fitting; a resumed
    keeper starts from the result ``best/`` holds (not from a Trainer state that may be older than it)."""
    import argparse
    import types

    import torch

    from rnnkit.cli.task import Run, _keep_best

    def keeper(resume: bool):
        run = Run(argparse.Namespace(resume=resume), "cpu", types.SimpleNamespace(path=tmp_path, record=lambda n: None))
        return _keep_best(run, "accuracy")

    model = torch.nn.Linear(2, 1)
    trainer = types.SimpleNamespace(model=model, metadata={}, step=0, epoch=0)

    def validate(keep, step: int, accuracy: float) -> int:
        trainer.step = step
        keep.on_test_end(trainer, {"loss": 1.0 - accuracy, "accuracy": accuracy})
        return load_checkpoint(tmp_path / "best").state["step"]

    keep = keeper(resume=False)
    keep.on_test_end(trainer, {"loss": 0.1, "accuracy": 0.9})              # evaluate() outside fit: not kept
    assert not (tmp_path / "best").exists()
    keep.on_train_begin(trainer, {})
    assert [validate(keep, s, a) for s, a in [(1, 0.5), (2, 0.4), (3, 0.6), (4, 0.6)]] == [1, 1, 3, 3]
    resumed = keeper(resume=True)
    resumed.on_train_begin(trainer, {})
    assert [validate(resumed, s, a) for s, a in [(5, 0.55), (6, 0.7)]] == [3, 6]
    with pytest.raises(ValueError, match="reports no 'accuracy'"):
        resumed.on_test_end(trainer, {"loss": 0.3})
