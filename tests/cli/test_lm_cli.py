import csv
import re

import pytest

from rnnkit.cli.main import main
from rnnkit.data import poems
from rnnkit.tasks.poems import is_ideograph

TINY = ["--layers", "1", "--hidden-size", "16", "--embed-size", "8", "--seq-len", "16", "--batch-size", "4",
        "--log-every", "1", "--sample-length", "20"]


@pytest.fixture(scope="module")
def poem_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "poems.txt"
    path.write_text("\n\n".join(poems().documents[:40]), encoding="utf-8")
    return path


def losses(run_dir):
    with open(run_dir / "log.csv", encoding="utf-8") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle) if row["loss"]]


def test_train_generate_evaluate_end_to_end(tmp_path, poem_file, capsys):
    run = tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(poem_file), *TINY, "--max-steps", "6", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "validation after 6 steps:" in out and "nats/char" in out and "bits/char" in out
    assert (run / "checkpoints").is_dir() and len(losses(run)) == 6

    assert main(["generate", str(run), "--poems", "2", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    poems_out = [p for p in text.strip("\n").split("\n\n")]
    assert len(poems_out) == 2
    for poem in poems_out:
        lines = poem.split("\n")
        assert len(lines) == 8 and all(len(line) == 8 and all(map(is_ideograph, line[:7])) for line in lines)
        assert [line[-1] for line in lines] == ["，", "。"] * 4

    assert main(["generate", str(run), "--length", "30", "--prime", "春風", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("春風") and len(first.rstrip("\n")) >= 30
    assert main(["generate", str(run), "--length", "30", "--prime", "春風", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first                   # seeded
    assert main(["generate", str(run), "--length", "12", "--beam", "3"]) == 0
    assert main(["generate", str(run), "--length", "12", "--greedy", "--top-k", "5"]) == 0
    capsys.readouterr()

    assert main(["evaluate", str(run), "--text", str(poem_file)]) == 0
    out = capsys.readouterr().out
    assert "nats/char" in out and "perplexity" in out
    assert main(["evaluate", str(run)]) == 0                  # the run's own validation split
    assert "the validation split of" in capsys.readouterr().out


def test_resume_continues_like_an_uninterrupted_run(tmp_path, poem_file, capsys):
    base = ["train", "lm", "--corpus", str(poem_file), *TINY, "--sample-length", "0"]
    assert main([*base, "--max-steps", "8", "--run-dir", str(tmp_path / "full")]) == 0
    assert main([*base, "--max-steps", "4", "--run-dir", str(tmp_path / "part")]) == 0
    assert main([*base, "--max-steps", "8", "--run-dir", str(tmp_path / "part"), "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert losses(tmp_path / "part") == pytest.approx(losses(tmp_path / "full"), abs=1e-6)


@pytest.mark.parametrize("content, extra, message", [
    (b"", [], "empty"),
    (b"\x00\x01\x02binary\x00", [], "looks binary"),
    ("床前明月光".encode("gb18030"), [], "cannot be decoded as utf-8"),
    (b"abc", ["--cell", "lstm", "--tie-weights"], "tie_weights"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, content, extra, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content * (200 if extra else 1))
    code = main(["train", "lm", "--corpus", str(path), *TINY, *extra, "--max-steps", "1",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 2 and message in capsys.readouterr().err


def test_generate_errors(tmp_path, capsys):
    assert main(["generate", str(tmp_path)]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
    assert main(["train", "lm", "--corpus", "no-such-corpus", "--run-dir", str(tmp_path / "r")]) == 2
    assert "poems, shakespeare, python or a text file" in capsys.readouterr().err


def test_word_level_run_reports_per_word(tmp_path, capsys):
    path = tmp_path / "words.txt"
    path.write_text("the cat sat on the mat.\nthe dog sat on the log!\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(path), "--level", "word", *TINY, "--max-steps", "3",
                 "--run-dir", str(run)]) == 0
    assert "nats/word" in capsys.readouterr().out
    assert main(["generate", str(run), "--prime", "the cat", "--length", "8", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the cat")
    assert set(re.findall(r"\w+", out)) <= {"the", "cat", "sat", "on", "mat", "dog", "log"}
    assert len(re.findall(r"\n|\w+|[^\w\s]", out[len("the cat"):])) == 8 + 1     # 8 tokens and the final newline
    assert main(["evaluate", str(run), "--text", str(path)]) == 0
    assert "bits/word" in capsys.readouterr().out


def poems_after(out: str, title: str) -> list[str]:
    body = out.split(title, 1)[1].lstrip("\n")
    return [p for p in body.split("\n\n") if p.strip()][:1]


def test_demo_trains_writes_and_shows_the_shipped_model(tmp_path, capsys):
    """The main job end to end on a tiny budget: both models write poems of eight 7-character lines, the
    shipped model scores about 3.97 nats/char on the demo's validation split, a second demo replaces the
    first, and a directory of another run is refused."""
    run = tmp_path / "demo"
    argv = ["demo", "--minutes", "0.05", "--poems", "1", "--run-dir", str(run)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"validation after \d+ steps: \d\.\d{4} nats/char", out)
    shipped = float(re.search(r"validation: (\d\.\d{4}) nats/char", out).group(1))
    assert 3.9 < shipped < 4.05
    for title in ("1 poem by the model trained just now (temperature 0.8):",
                  "1 poem by the shipped model (temperature 0.8):"):
        (poem,) = poems_after(out, title)
        lines = poem.split("\n")
        assert len(lines) == 8 and all(len(line) == 8 and all(map(is_ideograph, line[:7])) for line in lines)
        assert [line[-1] for line in lines] == ["，", "。"] * 4
    assert (run / "checkpoints").is_dir() and (run / "config.toml").is_file()
    assert main(argv) == 0                                            # an earlier demo run is replaced
    other = tmp_path / "other"
    assert main(["train", "lm", "--corpus", "poems", *TINY, "--max-steps", "1", "--run-dir", str(other)]) == 0
    capsys.readouterr()
    assert main(["demo", "--minutes", "0.05", "--run-dir", str(other)]) == 2
    assert "already holds" in capsys.readouterr().err
