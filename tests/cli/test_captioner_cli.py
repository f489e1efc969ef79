"""``rnnkit train captioner`` and ``rnnkit caption`` end to end on drawn shapes with known captions."""
import io
import json
import math
import random
import sys

import pytest
import torch
from PIL import Image, ImageDraw

from rnnkit.cli.main import main
from rnnkit.tasks.captioning import ImageCaptioner

COLOURS = {"red": ((220, 30, 30), "红"), "green": ((30, 180, 30), "绿"), "blue": ((30, 30, 220), "蓝")}
SHAPES = {"circle": "圆", "square": "方块", "triangle": "三角"}


def draw(path, shape, colour, rng):
    """A shape of one colour on white, at a random place and size."""
    image = Image.new("RGB", (32, 32), "white")
    size = rng.randint(10, 16)
    x, y = rng.randint(1, 31 - size), rng.randint(1, 31 - size)
    pen = ImageDraw.Draw(image)
    fill = COLOURS[colour][0]
    if shape == "circle":
        pen.ellipse((x, y, x + size, y + size), fill=fill)
    elif shape == "square":
        pen.rectangle((x, y, x + size, y + size), fill=fill)
    else:
        pen.polygon([(x, y + size), (x + size, y + size), (x + size // 2, y)], fill=fill)
    image.save(path)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """36 drawn images; captions.tsv with English and Chinese captions and a family column (the shape)."""
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("shapes")
    (folder / "images").mkdir()
    rows = ["file\tfamily\ten_caption\tzh_caption"]
    for number in range(36):
        shape, colour = list(SHAPES)[number % 3], list(COLOURS)[number // 3 % 3]
        name = f"{number:02d}-{colour}-{shape}.png"
        draw(folder / "images" / name, shape, colour, rng)
        rows.append(f"{name}\t{shape}-{number % 4}\ta {colour} {shape}\t{COLOURS[colour][1]}色{SHAPES[shape]}")
    (folder / "captions.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def run_dir(drawn, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("run") / "captioner"
        code = main(["train", "captioner", "--images", str(drawn / "images"), "--captions", str(drawn / "captions.tsv"),
                     "--split-by", "family", "--decoder", "attention", "--image-size", "16", "--channels", "8,16",
                     "--embed-size", "8", "--hidden-size", "24", "--feature-size", "16", "--dropout", "0",
                     "--shift", "1", "--epochs", "25", "--batch-size", "8", "--lr", "1e-2", "--beam", "2",
                     "--run-dir", str(path), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return path


def test_training_learns_the_drawn_captions_and_writes_scores_and_test_captions(run_dir):
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert {"bleu4", "bleu1", "chrf", "exact"} <= scores.keys() and scores["beam"] == 2
    assert scores["test_images"] == len((run_dir / "test_captions.tsv").read_text(encoding="utf-8").splitlines()) - 1
    state = json.loads(next((run_dir / "best" / "checkpoints").glob("ckpt-*/state.json")).read_text(encoding="utf-8"))
    assert state["metadata"]["vocabulary"]["level"] == "word" and "triangle" in state["metadata"]["vocabulary"]["tokens"]
    assert state["config"]["decoder"] == "attention" and state["config"]["channels"] == [8, 16]
    vocabulary = len(state["metadata"]["vocabulary"]["tokens"])
    assert state["val_loss"] < 0.5 * math.log(vocabulary)            # far below guessing


def test_caption_prints_what_the_captioner_gives(run_dir, drawn, capsys):
    images = sorted(str(p) for p in (drawn / "images").glob("*.png"))[:3]
    assert main(["caption", str(run_dir), *images, "--beam", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ImageCaptioner.from_checkpoint(run_dir / "best").caption_files(images, beam_size=3) and all(lines)


def test_caption_reads_paths_from_stdin(run_dir, drawn, capsys, monkeypatch):
    images = sorted(str(p) for p in (drawn / "images").glob("*.png"))[:2]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(images) + "\n"))
    assert main(["caption", str(run_dir)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_attention_plot_writes_a_png(run_dir, drawn, tmp_path, capsys):
    images = sorted(str(p) for p in (drawn / "images").glob("*.png"))[:2]
    path = tmp_path / "attention.png"
    assert main(["caption", str(run_dir), *images, "--attention-plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 and "attention plot" in captured.err


def test_chinese_captions_by_characters_with_the_textbook_decoder(drawn, tmp_path):
    torch.set_num_threads(1)
    code = main(["train", "captioner", "--images", str(drawn / "images"), "--captions", str(drawn / "captions.tsv"),
                 "--lang", "zh", "--decoder", "step1", "--cell", "srn", "--image-size", "16", "--channels", "4,8",
                 "--hidden-size", "16", "--embed-size", "8", "--feature-size", "8", "--epochs", "1",
                 "--run-dir", str(tmp_path / "zh"), "--quiet"])
    assert code == 0
    captioner = ImageCaptioner.from_checkpoint(tmp_path / "zh")
    assert captioner.vocab.level == "char" and "三" in captioner.vocab.tokens
    assert main(["caption", str(tmp_path / "zh"), str(next((drawn / "images").glob("*.png"))),
                 "--attention-plot", str(tmp_path / "x.png")]) == 2


def _captions(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_bad_inputs_are_one_line_naming_the_file(run_dir, drawn, tmp_path, capsys):
    images = str(drawn / "images")
    (drawn / "images" / "notes.png").write_text("not a picture", encoding="utf-8")
    try:
        cases = [
            (["caption", str(run_dir), str(drawn / "images" / "notes.png")], "notes.png: not a readable image"),
            (["caption", str(run_dir), str(tmp_path / "gone.png")], "gone.png: no such image file"),
            (["caption", str(tmp_path), images + "/00-red-circle.png"], "no complete checkpoint"),
            (["train", "captioner", "--images", images, "--captions",
              _captions(tmp_path, "missing.tsv", "file\tcaption\nmissing.png\tx\n")],
             "missing.tsv, line 2: image 'missing.png' not found"),
            (["train", "captioner", "--images", images, "--captions",
              _captions(tmp_path, "empty.tsv", "file\tcaption\n00-red-circle.png\t \n")], "empty.tsv, line 2: empty caption"),
            (["train", "captioner", "--images", images, "--captions",
              _captions(tmp_path, "notes.tsv", "file\tcaption\nnotes.png\tx\n00-red-circle.png\ty\n01-red-square.png\tz\n")],
             "notes.png: not a readable image"),
            (["train", "captioner", "--images", images, "--captions", str(drawn / "captions.tsv"),
              "--channels", "8,0"], "--channels: expected comma-separated positive integers"),
            (["train", "captioner", "--images", images, "--captions", str(drawn / "captions.tsv"),
              "--image-size", "20", "--channels", "4,4,4"],
             "--image-size: expected a multiple of 8"),
        ]
        for argv, message in cases:
            if argv[0] == "train":
                argv = [*argv, "--run-dir", str(tmp_path / "failed"), "--overwrite"]
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert message in err.splitlines()[-1] and "Traceback" not in err, (argv, err)
            assert err.count("\n") == 1 or "usage:" in err              # argparse shows the usage above its line
    finally:
        (drawn / "images" / "notes.png").unlink()
