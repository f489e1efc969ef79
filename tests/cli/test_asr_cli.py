"""``rnnkit train asr`` and ``rnnkit transcribe`` end to end on tone "words" the test synthesises."""
import json
import math
import struct
import subprocess
import sys
import wave

import pytest
import torch

from rnnkit.cli.main import main

RATE = 8000
TONES = {"a": 300.0, "b": 900.0, "c": 2000.0}
TINY = ["--n-mels", "16", "--cell", "gru", "--hidden-size", "24", "--layers", "1", "--conv-channels", "8",
        "--conv-stride", "4", "--dropout", "0", "--no-spec-augment", "--batch-size", "16", "--lr", "0.03", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def samples(text: str, seed: int, gap: float = 0.05) -> list[float]:
    """Tones for the labels of ``text`` with ``gap`` seconds of silence around each."""
    generator = torch.Generator().manual_seed(seed)
    silence = [0.0] * int(gap * RATE)
    out = list(silence)
    for label in text:
        t = torch.arange(int(0.12 * RATE)) / RATE
        phase = float(torch.rand((), generator=generator)) * 6.28
        tone = 0.5 * torch.sin(2 * math.pi * TONES[label] * t + phase) + 0.01 * torch.randn(len(t), generator=generator)
        out += tone.tolist() + silence
    return out


def write_wav(path, values, channels=1):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(values)}h", *(int(v * 32767) for v in values)))
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """``LABEL_SPEAKER_TAKE.wav``: 3 tones x 2 speakers x 8 takes (takes 0-4 test)."""
    folder = tmp_path_factory.mktemp("words")
    for k, label in enumerate(TONES):
        for s, speaker in enumerate(("ann", "bob")):
            for take in range(8):
                write_wav(folder / f"{label}_{speaker}_{take}.wav", samples(label, 100 * k + 10 * s + take, gap=0.0))
    return folder


@pytest.fixture(scope="module")
def ctc_run(recordings, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ctc")
    assert main(["train", "asr", "--data", str(recordings), "--run-dir", str(run_dir), "--max-words", "3",
                 "--max-silence", "0.06", "--utterances", "256", "--test-utterances", "20", "--epochs", "10", "--beam", "3",
                 *TINY]) == 0
    return run_dir


def test_train_asr_scores_test_strings_greedy_and_beam(ctc_run):
    scores = json.loads((ctc_run / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["greedy"]["strings"] == 20 and scores["beam"]["strings"] == 20
    assert scores["greedy"]["error_rate"] <= 0.05 and scores["beam"]["error_rate"] <= 0.05
    assert scores["real_time_factor"] > 0 and (ctc_run / "best").is_dir()


def test_transcribe_prints_each_file_and_writes_json_and_a_plot(ctc_run, tmp_path, capsys):
    files = [write_wav(tmp_path / f"{text}.wav", samples(text, seed)) for seed, text in enumerate(["ab", "cab", "bca"])]
    assert main(["transcribe", str(ctc_run), *map(str, files)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{f}\t{f.stem}" for f in files]
    plot = tmp_path / "alignment.png"
    assert main(["transcribe", str(ctc_run), str(files[1]), "--beam", "4", "--json", "--plot", str(plot)]) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert found["text"] == "cab" and found["file"] == str(files[1]) and found["seconds"] == pytest.approx(0.56)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stereo_file_is_mixed_down_and_said_so(ctc_run, tmp_path):
    mono = samples("ba", 7)
    path = write_wav(tmp_path / "stereo.wav", [v for v in mono for _ in range(2)], channels=2)
    done = subprocess.run([sys.executable, "-m", "rnnkit", "transcribe", str(ctc_run), str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"{path}\tba\n"
    assert done.stderr == f"rnnkit: warning: {path}: 2 channels, mixed down to mono (their mean); the models take " \
                          "one channel\n"


BAD = {"notes.wav": (b"just text\n", "not a WAV file (no RIFF/WAVE header)"),
       "empty.wav": (b"", "the file is empty"),
       "header.wav": (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "corrupt WAV header"),
       "zero.wav": (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
                    + b"data\x00\x00\x00\x00", "holds no samples"),
       "wide.wav": (b"RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 1, 8000, 40000, 5, 40)
                    + b"data\x05\x00\x00\x00" + bytes(5), "40-bit PCM samples, expected")}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_recordings_are_one_line_naming_the_file(ctc_run, tmp_path, capsys, name):
    content, message = BAD[name]
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["transcribe", str(ctc_run), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"rnnkit: error: {path}: ") and message in err and "\n" not in err


def test_the_spoken_word_classifier_trains_from_a_manifest(recordings, tmp_path, capsys):
    manifest = tmp_path / "words.tsv"
    manifest.write_text("".join(f"{p.resolve()}\t{p.name[0]}\n" for p in sorted(recordings.iterdir())), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", "asr", "--data", str(manifest), "--output", "word", "--run-dir", str(run_dir),
                 "--epochs", "12", *TINY]) == 0
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["accuracy"] >= 0.8 and (run_dir / "confusion.png").is_file()
    capsys.readouterr()
    path = write_wav(tmp_path / "c.wav", samples("c", 99, gap=0.0))
    assert main(["transcribe", str(run_dir), str(path)]) == 0
    name, label, probability = capsys.readouterr().out.strip().split("\t")
    assert (name, label) == (str(path), "c") and 0.0 < float(probability) <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["--data", "absent-folder"], "absent-folder: no such folder or manifest"),
    (["--split", "speaker:zed"], "split: no recordings of speaker 'zed'"),
])
def test_train_asr_errors_are_one_line(recordings, tmp_path, capsys, argv, message):
    full = ["train", "asr", "--data", str(recordings), "--run-dir", str(tmp_path / "r"), *argv]
    assert main(full) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit: error: ") and message in err and "\n" not in err


def test_transcribe_needs_files_and_an_asr_run(ctc_run, tmp_path, capsys):
    assert main(["transcribe", str(ctc_run)]) == 2
    assert "FILE: expected at least one recording" in capsys.readouterr().err
    assert main(["transcribe", str(tmp_path / "nowhere"), "x.wav"]) == 2
    assert "RUN_DIR: expected the directory of a training run" in capsys.readouterr().err


def test_strings_of_longer_words_are_spelled_with_spaces(tmp_path):
    from rnnkit.tasks.asr import SpeechModel

    folder = tmp_path / "words"
    folder.mkdir()
    for take in range(10):                                         # takes 5-9 train: both words among them
        write_wav(folder / f"low_ann_{take}.wav", samples("a", take, gap=0.0))
        write_wav(folder / f"high_ann_{take}.wav", samples("c", take, gap=0.0))
    run_dir = tmp_path / "run"
    assert main(["train", "asr", "--data", str(folder), "--run-dir", str(run_dir), "--max-words", "2", "--epochs", "1",
                 "--utterances", "8", "--test-utterances", "4", "--beam", "1", *TINY]) == 0
    model, _ = SpeechModel.from_checkpoint(run_dir)
    assert model.config.labels == (" ", "g", "h", "i", "l", "o", "w")
    assert json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))["greedy"]["strings"] == 4
