"""Caption files: TSV and JSON, several captions per image, family splits, batches, errors naming the line."""
import json

import pytest
import torch
from PIL import Image

from rnnkit.data.captions import (CaptionBatches, encode_captions, family, read_captions, split_by_group)
from rnnkit.data.pairs import BOS_ID, EOS_ID, build_vocabulary


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for name, colour in (("red.png", "red"), ("blue.png", "blue"), ("sub/green.png", "green")):
        Image.new("RGB", (8, 8), colour).save(images / name)
    return images


def _tsv(tmp_path, text):
    path = tmp_path / "captions.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_with_languages_and_several_captions_per_image(tmp_path, folder):
    path = _tsv(tmp_path, "file\temoji\ten_caption\tzh_caption\n"
                          "red.png\t👋🏽\thand:  medium skin tone\t手: 中等肤色\n"
                          "blue.png\t👋\twaving hand\t挥手\n"
                          "red.png\t👋🏽\ta red square\t红色\n"
                          "\n"
                          "sub/green.png\t🇨🇳\tflag: China\t旗: 中国\n")
    items = read_captions(path, folder, "en", group_column="emoji")
    assert [i.file for i in items] == ["red.png", "blue.png", "sub/green.png"]
    assert items[0].captions == ("hand: medium skin tone", "a red square")
    assert items[0].group == items[1].group == "👋" != items[2].group
    zh = read_captions(path, folder, "zh")
    assert zh[2].captions == ("旗: 中国",) and zh[2].group is None


def test_json_records_with_caption_lists(tmp_path, folder):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps([{"image": "red.png", "caption": ["red", "a red square"]},
                                {"file": "blue.png", "caption": "blue"}]), encoding="utf-8")
    items = read_captions(path, folder)
    assert [(i.file, i.captions) for i in items] == [("red.png", ("red", "a red square")), ("blue.png", ("blue",))]


@pytest.mark.parametrize("text, message", [
    ("file\tcaption\nred.png\t  \n", r"captions\.tsv, line 2: empty caption"),
    ("file\tcaption\nred.png\tred\nmissing.png\tgone\n", r"captions\.tsv, line 3: image 'missing.png' not found"),
    ("file\tcaption\n../images/red.png\tred\n../captions.tsv\tx\n", r"line 3: image path '\.\./captions\.tsv' leaves"),
    ("file\tcaption\nred.png\tred\textra\n", r"line 2: expected 2 tab-separated columns like the header, got 3"),
    ("name\ttext\nred.png\tred\n", r"line 2: no image path column; expected one of \['file', 'image'\]"),
    ("file\tcaption\n", r"captions\.tsv: no caption rows after the header"),
])
def test_bad_caption_files_name_the_file_and_line(tmp_path, folder, text, message):
    with pytest.raises(ValueError, match=message):
        read_captions(_tsv(tmp_path, text), folder)


def test_bad_json_and_folders(tmp_path, folder):
    path = tmp_path / "captions.json"
    for data, message in (("[1, 2", "not valid JSON"), ('{"file": "red.png"}', "expected a non-empty JSON list"),
                          ('[{"file": "red.png", "caption": 3}]', r"record 0: expected a caption string")):
        path.write_text(data, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_captions(path, folder)
    with pytest.raises(ValueError, match="no such images folder"):
        read_captions(path, tmp_path / "nowhere")


def test_every_skin_tone_of_an_emoji_is_one_family_and_stays_in_one_split(tmp_path):
    assert family("👩🏽\u200d🍳") == family("👩\u200d🍳") != family("👨\u200d🍳")
    assert family("🏌️\u200d♀️") == family("🏌🏻\u200d♀️")
    folder = tmp_path / "images"
    folder.mkdir()
    rows = ["file\temoji\tcaption"]
    for base in range(30):
        for number, tone in enumerate(("", "\U0001F3FB", "\U0001F3FF")):
            name = f"{base}-{number}.png"
            Image.new("RGB", (4, 4)).save(folder / name)
            rows.append(f"{name}\t{chr(0x1F466 + base)}{tone}\tperson {base}")
    items = read_captions(_tsv(tmp_path, "\n".join(rows)), folder, group_column="emoji")
    parts = split_by_group(items, seed=0)
    families = [{item.group for item in part} for part in parts]
    assert not (families[0] & families[1] or families[0] & families[2] or families[1] & families[2])
    assert all(len(part) % 3 == 0 and part for part in parts) and sum(map(len, parts)) == 90
    assert split_by_group(items, seed=0) == parts


def test_batches_pad_captions_and_carry_images_in_unit_range():
    items = [type("Item", (), {"captions": c})() for c in (("red square",), ("blue", "a blue circle"))]
    vocab = build_vocabulary(["red square", "blue", "a blue circle"], "word")
    examples = encode_captions(items, vocab)
    assert [index for index, _ in examples] == [0, 1, 1]
    assert examples[0][1][0] == BOS_ID and examples[0][1][-1] == EOS_ID and len(examples[2][1]) == 5
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    batches = list(CaptionBatches(images, examples, batch_size=2, shuffle=False))
    assert len(batches) == 2 and batches[0].images.shape == (2, 3, 8, 8) and batches[0].targets.shape == (2, 4)
    assert batches[0].targets[1].tolist()[-1] == -1 and torch.equal(batches[0].images[0], images[0] / 255.0)
    shuffled = CaptionBatches(images, examples, batch_size=3, shift=2)
    assert len(shuffled) == 1 and next(iter(shuffled)).images.shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="images: expected uint8"):
        CaptionBatches(images.float(), examples, 2)
