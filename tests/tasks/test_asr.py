"""The speech models: config checks, shapes, padding invariance, checkpoints, and learning tone "words"."""
import dataclasses
import math

import pytest
import torch

from rnnkit.data.audio import FeatureConfig
from rnnkit.data.digits import SpokenStrings, StringBuilder, StringOptions, Word
from rnnkit.data.speech import AudioBatches, Utterance
from rnnkit.tasks.asr import AsrConfig, SpeechModel, alignment, recognize

RATE = 8000
TONES = {"a": 300.0, "b": 900.0, "c": 2000.0}


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def tone(label: str, seconds: float = 0.2, generator=None) -> torch.Tensor:
    """A 'word': a tone of the label's frequency with a little noise and a random phase."""
    t = torch.arange(int(seconds * RATE)) / RATE
    phase = float(torch.rand((), generator=generator)) * 6.28
    return 0.5 * torch.sin(2 * math.pi * TONES[label] * t + phase) + 0.01 * torch.randn(len(t), generator=generator)


def tiny(output="ctc", **options) -> SpeechModel:
    defaults = {"conv_channels": 8, "hidden_size": 16, "layers": 1, "dropout": 0.0, "freq_masks": 0, "time_masks": 0}
    config = AsrConfig(tuple(TONES), output, FeatureConfig(RATE, n_mels=16), **{**defaults, **options})
    return SpeechModel(config)


def test_config_round_trips_through_a_dict_and_refuses_bad_values():
    config = AsrConfig(("yes", "no"), "word", FeatureConfig(n_mfcc=13), cell="gru")
    assert AsrConfig.from_dict(dataclasses.asdict(config)) == config
    for bad, message in (({"output": "seq"}, "output"), ({"labels": ("a", "a")}, "labels"),
                         ({"conv_channels": -1}, "conv_channels"), ({"dropout": 1.0}, "dropout")):
        with pytest.raises(ValueError, match=message):
            AsrConfig(**{"labels": ("a", "b"), **bad})
    with pytest.raises(ValueError, match="labels: a word model"):
        AsrConfig(("a",), "word")


@pytest.mark.parametrize("stride, conv", [(2, 8), (3, 8), (1, 0)])
def test_ctc_outputs_one_row_per_subsampled_frame(stride, conv):
    model = tiny(conv_stride=stride, conv_channels=conv).eval()
    log_probs, frames = model(torch.randn(2, 1600), torch.tensor([1600, 801]))
    feature_frames = torch.tensor([1600 // 80 + 1, 801 // 80 + 1])
    expected = (feature_frames - 1) // stride + 1 if conv else feature_frames
    assert frames.tolist() == expected.tolist() and log_probs.shape == (2, int(expected[0]), 4)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, int(expected[0])))


@pytest.mark.parametrize("output", ["ctc", "word"])
def test_a_batch_gives_each_recording_what_it_gets_alone(output):
    model = tiny(output, cell="gru").eval()
    waves = [torch.randn(n) * 0.3 for n in (2000, 1100, 1600)]
    found = recognize(model, waves, batch_size=3)
    for w, r in zip(waves, found):
        alone = recognize(model, [w], batch_size=1)[0]
        torch.testing.assert_close(r.log_probs, alone.log_probs, atol=1e-4, rtol=1e-4)
        assert r.text == alone.text


def test_transcripts_encode_to_symbol_ids_and_unknown_symbols_are_refused():
    model = tiny()
    assert model.encode_text("cab") == [3, 1, 2]
    with pytest.raises(ValueError, match=r"symbols \[' ', 'z'\]"):
        model.encode_text("a  z")
    assert tiny("word").encode_text("b") == 1
    with pytest.raises(ValueError, match="not one of the model's labels"):
        tiny("word").encode_text("d")


def fit(model, batches, steps: int, lr: float = 1e-2) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    done = 0
    while done < steps:
        for batch in batches:
            optimizer.zero_grad()
            model.loss(batch).loss.backward()
            optimizer.step()
            done += 1


def test_the_word_classifier_learns_tones():
    generator = torch.Generator().manual_seed(0)
    labels = list(TONES)
    model = tiny("word")
    examples = [Utterance(tone(x, 0.1 + 0.1 * (k % 3), generator), labels.index(x)) for k in range(8) for x in labels]
    fit(model, AudioBatches(examples, 8), steps=30)
    tests = [tone(x, 0.15, generator) for x in labels]
    assert [r.text for r in recognize(model, tests)] == labels


def test_the_ctc_recogniser_learns_strings_of_tones_and_beam_agrees():
    words = [Word(tone(x, 0.12, torch.Generator().manual_seed(k)), x, None) for k in range(4) for x in TONES]
    builder = StringBuilder(words, RATE, StringOptions(max_words=3, silence=(0.03, 0.06)))
    model = tiny(cell="gru", hidden_size=24, conv_stride=4)
    fit(model, SpokenStrings(builder, 64, 16, model.encode_text, seed=0), steps=100, lr=3e-2)
    test = SpokenStrings(builder, 10, 10, model.encode_text, seed=1).fixed
    waves, gold = [w for w, _ in test], [t for _, t in test]
    assert [r.text for r in recognize(model, waves)] == gold
    assert [r.text for r in recognize(model, waves, beam_size=4)] == gold
    spectrogram, frames, frame_seconds, label_seconds = alignment(model, waves[0])
    assert spectrogram.shape[1] == 16 and label_seconds == 4 * frame_seconds == 0.04
    assert "".join(x for k, x in enumerate(frames) if x and (k == 0 or frames[k - 1] != x)) == gold[0]


def test_from_checkpoint_rebuilds_the_model(tmp_path):
    from rnnkit.train import save_checkpoint

    model = tiny()
    model.features.mean.fill_(0.5)                                                 # buffers travel too
    save_checkpoint(tmp_path, model, metadata={"task": "asr"})
    loaded, metadata = SpeechModel.from_checkpoint(tmp_path)
    assert metadata["task"] == "asr" and loaded.config == model.config and float(loaded.features.mean[0]) == 0.5
    wave = torch.randn(1200)
    torch.testing.assert_close(recognize(loaded, [wave])[0].log_probs, recognize(model.eval(), [wave])[0].log_probs)
