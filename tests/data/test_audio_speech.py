"""Labelled recordings (folders, manifests), their splits, audio batches and spoken strings."""
import struct
import wave

import pytest
import torch

from rnnkit.data.digits import SpokenStrings, StringBuilder, StringOptions, Word, transcript
from rnnkit.data.speech import (AudioBatches, Utterance, collate_audio, list_recordings, load_wave,
                                split_recordings)


def write_wav(path, values, rate=8000):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(values)}h", *values))


def test_a_folder_reads_label_speaker_take_from_the_names(tmp_path):
    for name in ("7_jackson_32.wav", "yes_anna_x.wav", "3_b.wav"):
        write_wav(tmp_path / name, [0, 1])
    (tmp_path / "notes.txt").write_text("not audio")
    found = {r.path.name: (r.transcript, r.speaker, r.take) for r in list_recordings(tmp_path)}
    assert found == {"7_jackson_32.wav": ("7", "jackson", 32), "yes_anna_x.wav": ("yes", "anna", None),
                     "3_b.wav": ("3", "b", None)}


def test_a_manifest_reads_paths_relative_to_itself(tmp_path):
    (tmp_path / "audio").mkdir()
    manifest = tmp_path / "list.tsv"
    manifest.write_text("# comment\naudio/a.wav\tthree  one\n\naudio/b.wav\t4\n", encoding="utf-8")
    recordings = list_recordings(manifest)
    assert [(r.path, r.transcript) for r in recordings] == [(tmp_path / "audio/a.wav", "three one"),
                                                            (tmp_path / "audio/b.wav", "4")]


@pytest.mark.parametrize("content, message", [("a.wav 3\n", r"list.tsv:1: expected 'path<TAB>transcript'"),
                                              ("# only\n", "lists no recordings"), ("a.wav\t \n", "list.tsv:1")])
def test_bad_manifests_name_the_file_and_line(tmp_path, content, message):
    manifest = tmp_path / "list.tsv"
    manifest.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        list_recordings(manifest)


def test_folders_without_recordings_or_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no recordings"):
        list_recordings(tmp_path)
    write_wav(tmp_path / "nolabel.wav", [0])
    with pytest.raises(ValueError, match=r"nolabel.wav: expected a name LABEL_\*"):
        list_recordings(tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        list_recordings(tmp_path / "absent")


def fsdd_like(tmp_path, speakers=("ann", "bob"), takes=8):
    for speaker in speakers:
        for digit in "01":
            for take in range(takes):
                write_wav(tmp_path / f"{digit}_{speaker}_{take}.wav", [take, digit == "1"])
    return list_recordings(tmp_path)


def test_takes_split_puts_takes_0_to_4_in_test_and_the_rest_in_train_and_dev(tmp_path):
    train, dev, test = split_recordings(fsdd_like(tmp_path), "auto")
    assert sorted(r.take for r in test) == sorted(list(range(5)) * 4)
    assert all(r.take >= 5 for r in train + dev) and len(train) + len(dev) == 12 and len(dev) == 1


def test_speaker_split_holds_one_speaker_out(tmp_path):
    train, dev, test = split_recordings(fsdd_like(tmp_path), "speaker:bob")
    assert {r.speaker for r in test} == {"bob"} and {r.speaker for r in train + dev} == {"ann"}
    with pytest.raises(ValueError, match=r"no recordings of speaker 'eve'; the speakers are \['ann', 'bob'\]"):
        split_recordings(fsdd_like(tmp_path), "speaker:eve")
    with pytest.raises(ValueError, match="split: expected auto"):
        split_recordings(fsdd_like(tmp_path), "sideways")


def test_load_wave_resamples_to_the_model_rate(tmp_path):
    write_wav(tmp_path / "a_x.wav", [1000] * 1600, rate=16000)
    wave_8k = load_wave(tmp_path / "a_x.wav", 8000)
    assert wave_8k.shape == (800,) and wave_8k.dtype == torch.float32


def test_audio_batches_pad_with_zeros_and_group_similar_durations():
    utterances = [Utterance(torch.ones(n), [1] * (n // 10)) for n in (30, 10, 50, 20)]
    batches = list(AudioBatches(utterances, 2, shuffle=False))
    assert [b.lengths.tolist() for b in batches] == [[10, 20], [30, 50]]
    last = batches[1]
    assert last.waves.shape == (2, 50) and float(last.waves[0, 30:].abs().sum()) == 0.0
    assert last.targets.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]] and last.target_lengths.tolist() == [3, 5]
    classes = collate_audio([Utterance(torch.ones(3), 4), Utterance(torch.ones(2), 1)])
    assert classes.targets.tolist() == [4, 1] and classes.target_lengths is None


def pool(labels="0123", speakers=("a", "b")):
    """One word per label and speaker, each a constant wave whose value names it."""
    return [Word(torch.full((40 + 10 * k,), float(100 * s + k + 1)), label, speaker)
            for s, speaker in enumerate(speakers) for k, label in enumerate(labels)]


def test_strings_are_words_of_the_pool_between_silences():
    words = pool()
    options = StringOptions(min_words=2, max_words=4, silence=(0.01, 0.02), gain_db=(0.0, 0.0), same_speaker=1.0)
    builder = StringBuilder(words, 1000, options)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        wave, text = builder.draw(generator)
        assert 2 <= len(text) <= 4
        runs = [float(v) for k, v in enumerate(wave.tolist()) if v and (k == 0 or wave[k - 1] != v)]
        heard = [next(w for w in words if float(w.wave[0]) == v) for v in runs]
        assert "".join(w.label for w in heard) == text
        assert len({w.speaker for w in heard}) == 1                                  # same_speaker=1
        silence = len(wave) - sum(len(w.wave) for w in heard)
        assert (len(text) + 1) * 10 <= silence <= (len(text) + 1) * 20


def test_fixed_strings_repeat_and_fresh_strings_follow_the_global_generator():
    builder = StringBuilder(pool(), 1000, StringOptions(max_words=3, silence=(0.0, 0.01)))
    digits = (lambda text: [int(c) + 1 for c in text])
    fixed = SpokenStrings(builder, 5, 2, digits, seed=3)
    assert [b.waves.tolist() for b in fixed] == [b.waves.tolist() for b in fixed]
    assert len(fixed) == 3 and sum(len(b.lengths) for b in fixed) == 5
    fresh = SpokenStrings(builder, 5, 2, digits)
    torch.manual_seed(1)
    first = sorted(len(w) for b in fresh for w in b.waves)
    torch.manual_seed(1)
    assert sorted(len(w) for b in fresh for w in b.waves) == first


def test_transcripts_join_characters_without_and_words_with_spaces():
    assert transcript(["3", "1", "4"]) == "314" and transcript(["yes", "no"]) == "yes no"
