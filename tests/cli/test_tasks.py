"""``rnnkit train tagger|classifier|forecaster``, ``tag``, ``classify``, ``forecast`` end to end on small slices."""
import io
import json
import re

import pytest
import torch

from rnnkit.cli.main import main

TINY = ["--epochs", "1", "--embed-size", "8", "--hidden-size", "8", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("seg")
    assert main(["train", "tagger", "--corpus", "pd98-seg", "--run-dir", str(run_dir), "--limit", "12",
                 "--bigram-embed-size", "4", *TINY]) == 0
    return run_dir


def test_train_tagger_scores_the_test_split(segmenter, capsys):
    scores = json.loads((segmenter / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["corpus"] == "pd98-seg" and scores["sentences"] == 12
    assert 0.0 <= scores["f1"] <= 1.0 and scores["words"] > 100
    assert (segmenter / "best").is_dir() and (segmenter / "log.csv").is_file()


def test_tag_prints_words_covering_the_text(segmenter, capsys, monkeypatch):
    assert main(["tag", str(segmenter), "迈向充满希望的新世纪", "中共中央总书记"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.replace(" ", "") for line in lines] == ["迈向充满希望的新世纪", "中共中央总书记"]
    monkeypatch.setattr("sys.stdin", io.StringIO("我爱北京\n\n天安门\n"))
    assert main(["tag", str(segmenter)]) == 0
    assert [line.replace(" ", "") for line in capsys.readouterr().out.splitlines()] == ["我爱北京", "", "天安门"]


def test_tag_segments_full_and_half_width_text_alike_in_its_own_characters(segmenter, capsys):
    from rnnkit.tasks.tagger import Tagger

    metadata = Tagger.from_checkpoint(segmenter)[1]
    assert metadata["encoder"]["normalize"] == "width-classes" and metadata["encoder"]["lexicon"] is None
    half, full = "我在2023年买了iPhone 15手机", "我在２０２３年买了ｉＰｈｏｎｅ　１５手机"
    assert main(["tag", str(segmenter), half, full]) == 0
    half_words, full_words = (line.split(" ") for line in capsys.readouterr().out.splitlines())
    assert "".join(half_words) == "我在2023年买了iPhone15手机" and "".join(full_words) == "".join(full.split())
    assert [len(w) for w in half_words] == [len(w) for w in full_words]
    ends = [sum(len(w) for w in half_words[:k + 1]) for k in range(len(half_words))]
    assert len("我在2023年买了iPhone") in ends                                      # a word ends at the space


def test_lexicon_needs_a_segmentation_corpus(tmp_path, capsys):
    conll = tmp_path / "ner.conll"
    conll.write_text("John B-PER\nlives O\n\nMary B-PER\n", encoding="utf-8")
    assert main(["train", "tagger", "--corpus", str(conll), "--lexicon", "--run-dir", str(tmp_path / "r"),
                 *TINY]) == 2
    assert "--lexicon: needs a character-level BMES corpus" in capsys.readouterr().err


def test_tagger_keeps_the_model_of_the_best_dev_tag_accuracy(tmp_path, capsys):
    from rnnkit.train import load_checkpoint

    conll = tmp_path / "ner.conll"
    conll.write_text("\n".join(f"{name} B-PER\nvisited O\n{city} B-LOC\n" for name, city in
                               [("Anna", "York"), ("Li", "Jose"), ("Bo", "Kong")] * 4), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", "tagger", "--corpus", str(conll), "--run-dir", str(run_dir), *TINY, "--epochs", "3",
                 "--lr", "0.05", "--select", "accuracy"]) == 0
    assert re.search(r"best dev accuracy [01]\.\d{4} at step \d+", capsys.readouterr().err)
    state = load_checkpoint(run_dir / "best").state
    assert 0.0 <= state["val_accuracy"] <= 1.0 and "val_loss" in state
    assert load_checkpoint(run_dir).state["train_config"]["early_stopping_metric"] == "accuracy"   # --patience's


def test_tagger_on_a_user_conll_file_prints_entities(tmp_path, capsys):
    sentences = [f"{name} B-PER\nvisited O\n{city} B-LOC\n{second} I-LOC\n"
                 for name, city, second in [("Anna", "New", "York"), ("Li", "San", "Jose"), ("Bo", "Hong", "Kong")] * 4]
    conll = tmp_path / "ner.conll"
    conll.write_text("\n".join(sentences), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", "tagger", "--corpus", str(conll), "--run-dir", str(run_dir), *TINY,
                 "--epochs", "3", "--lr", "0.05"]) == 0
    assert "entities" in capsys.readouterr().out
    assert main(["tag", str(run_dir), "Anna visited San Jose"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"((\S+( \S+)*)/(PER|LOC)( |$))*", out), out


@pytest.mark.parametrize("corpus", ["reviews-zh", "reviews-zh-distinct"])
def test_classifier_train_and_classify(tmp_path, capsys, monkeypatch, corpus):
    run_dir = tmp_path / "run"
    assert main(["train", "classifier", "--corpus", corpus, "--run-dir", str(run_dir), "--limit", "24",
                 "--max-len", "30", "--bigram-embed-size", "4", "--pooling", "attention", *TINY]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test: accuracy 0\.\d{4}  macro_f1 0\.\d{4}  texts 24", out)
    assert "(rows: gold, columns: predicted)" in out
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert sum(map(sum, scores["confusion"])) == 24 and (run_dir / "confusion.png").stat().st_size > 1000
    monkeypatch.setattr("sys.stdin", io.StringIO("质量很好\n太差了\n"))
    assert main(["classify", str(run_dir)]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[2] for r in rows] == ["质量很好", "太差了"] and all(r[0] in ("neg", "pos") for r in rows)
    assert all(0.5 <= float(r[1]) <= 1.0 for r in rows)


def test_classifier_distinct_train_trains_on_each_training_text_once(tmp_path, capsys):
    from rnnkit.data.classification import load_labelled_texts, majority_labels

    rows = [(f"好评{k}很好", "pos") for k in range(6)] + [(f"差评{k}太差", "neg") for k in range(6)]
    path = tmp_path / "repeats.tsv"                          # each text 4 times, one copy of 好评0 labelled neg
    path.write_text("text\tlabel\n" + "\n".join(f"{t}\t{l}" for t, l in rows * 3 + rows[1:] + [("好评0很好", "neg")]),
                    encoding="utf-8")
    train = load_labelled_texts(str(path)).split()[0]
    distinct = majority_labels(train)
    assert len(train) == 38 and len(distinct) == 12                # the repeats the flag drops
    for flag, count in (([], 38), (["--distinct-train"], 12)):
        assert main(["train", "classifier", "--corpus", str(path), "--run-dir", str(tmp_path / f"run{count}"),
                     "--max-len", "10", "--bigram-embed-size", "4", *TINY, *flag]) == 0
        assert re.search(rf"repeats.tsv: {count}/5/5 train/dev/test texts", capsys.readouterr().err)


def test_classifier_from_a_pretrained_language_model(tmp_path, capsys):
    from rnnkit.data.classification import reviews_zh
    from rnnkit.tasks.classifier import Classifier
    from rnnkit.tasks.lm import LanguageModel

    corpus = tmp_path / "reviews.txt"
    corpus.write_text("\n".join(text for text, _ in reviews_zh().split()[0][:300]), encoding="utf-8")
    lm_dir, run_dir = tmp_path / "lm", tmp_path / "run"
    assert main(["train", "lm", "--corpus", str(corpus), "--run-dir", str(lm_dir), "--max-steps", "3",
                 "--layers", "2", "--sample-length", "0", "--seq-len", "20", *TINY]) == 0
    assert main(["train", "classifier", "--corpus", "reviews-zh", "--run-dir", str(run_dir), "--limit", "24",
                 "--max-len", "30", "--pretrained", str(lm_dir), "--pooling", "concat", "--lr-decay", "2.6",
                 "--gradual-unfreezing", "--select", "accuracy", *TINY]) == 0
    err = capsys.readouterr().err
    assert "encoder: the embedding and 2 LSTM layer(s)" in err and re.search(r"best dev accuracy 0\.\d{4}", err)
    lm, (model, metadata) = LanguageModel.from_checkpoint(lm_dir), Classifier.from_checkpoint(run_dir)
    assert model.config.pooling == "concat" and not model.config.bidirectional
    assert metadata["encoder"]["vocab"] == lm_checkpoint_vocab(lm_dir) and metadata["encoder"]["bigram_vocab"] is None
    assert torch.equal(model.features.embedding.weight, lm.embedding.weight)          # frozen in epoch 0
    assert all(torch.equal(p, q) for p, q in zip(model.rnn.parameters(), lm.rnn.parameters()))
    assert main(["classify", str(run_dir), "质量很好"]) == 0
    assert main(["train", "classifier", "--corpus", "reviews-zh", "--run-dir", str(tmp_path / "bad"), "--limit", "24",
                 "--pretrained", str(run_dir), *TINY]) != 0
    err = capsys.readouterr().err
    assert "--pretrained: " in err and "expected a rnnkit.tasks.lm.LanguageModel" in err


def lm_checkpoint_vocab(run_dir):
    from rnnkit.train import load_checkpoint

    return load_checkpoint(run_dir).metadata["vocabulary"]


def test_forecaster_train_and_forecast(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "forecaster", "--series", "sunspots", "--run-dir", str(run_dir), "--epochs", "2",
                 "--hidden-size", "8", "--horizon", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test (29 origins x 3 steps):" in out and re.search(r"seasonal naive\s+rmse \d", out)
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert scores["naive"]["rmse"] > 0 and (run_dir / "forecast.png").is_file()
    plot = tmp_path / "ahead.png"
    assert main(["forecast", str(run_dir), "--steps", "4", "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# sunspots: 4 values after 2008") and len(lines) == 5
    assert lines[4].startswith("t+4\t") and plot.is_file()


def test_forecaster_on_a_user_csv(tmp_path, capsys):
    path = tmp_path / "series.csv"
    path.write_text("t,v\n" + "".join(f"{i},{(i % 7) + 0.1 * i}\n" for i in range(80)), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", "forecaster", "--series", str(path), "--period", "7", "--run-dir", str(run_dir),
                 "--epochs", "1", "--hidden-size", "4", "--quiet"]) == 0
    assert "seasonal naive  rmse" in capsys.readouterr().out
    assert main(["forecast", str(run_dir), "--steps", "2", "--csv", str(path)]) == 0
    assert "after row 79" in capsys.readouterr().out


def test_errors_name_the_argument(tmp_path, capsys, segmenter):
    assert main(["tag", str(tmp_path / "nothing"), "文本"]) == 2
    assert "RUN_DIR: expected the directory of a training run" in capsys.readouterr().err
    assert main(["classify", str(segmenter), "文本"]) == 2
    assert "holds a 'tagger' model, expected a classifier" in capsys.readouterr().err
    assert main(["train", "tagger", "--corpus", "pd99", "--run-dir", str(tmp_path)]) == 2
    assert "corpus: expected pd98-seg or pd98-ner" in capsys.readouterr().err
    assert main(["train", "forecaster", "--series", "co2", "--run-dir", str(tmp_path), "--input-len", "6"]) == 2
    assert "--input-len: expected at least the seasonal period 12" in capsys.readouterr().err


def test_a_segmenter_reads_an_outside_dictionary_and_tag_uses_it(tmp_path, capsys):
    from rnnkit.tasks.tagger import Tagger

    words = tmp_path / "words.txt"
    words.write_text("中共中央 10 nt\n总书记 3 n\n新世纪\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["train", "tagger", "--corpus", "pd98-seg", "--run-dir", str(run_dir), "--limit", "12",
                 "--dictionary", str(words), "--bigram-embed-size", "4", "--lexicon-embed-size", "4", *TINY]) == 0
    assert "3 dictionary words" in capsys.readouterr().err
    model, metadata = Tagger.from_checkpoint(run_dir)
    assert sorted(metadata["encoder"]["lexicon"]["words"]) == ["中共中央", "总书记", "新世纪"]
    assert model.features.lexicon_embedding.weight.shape == (64, 4)
    assert main(["tag", str(run_dir), "中共中央总书记"]) == 0
    assert capsys.readouterr().out.replace(" ", "").strip() == "中共中央总书记"


@pytest.mark.parametrize("content, message", [
    (None, "words.txt: cannot be read"),
    ("北京\n".encode("utf-8") + "人民\n".encode("gbk"), "words.txt: line 2 is not UTF-8"),
    ("一\n二 5\n".encode("utf-8"), "none of the 2 words of .*words.txt has 2..4 characters"),
])
def test_a_dictionary_the_tagger_cannot_use_is_refused_by_name(tmp_path, capsys, content, message):
    words = tmp_path / "words.txt"
    if content is not None:
        words.write_bytes(content)
    assert main(["train", "tagger", "--corpus", "pd98-seg", "--run-dir", str(tmp_path / "r"), "--limit", "12",
                 "--dictionary", str(words), *TINY]) == 2
    err = capsys.readouterr().err
    assert re.search("--dictionary: .*" + message, err) and "Traceback" not in err
    assert not (tmp_path / "r" / "checkpoints").exists()                 # no training started


def test_a_dictionary_needs_a_segmentation_corpus(tmp_path, capsys):
    conll, words = tmp_path / "ner.conll", tmp_path / "words.txt"
    conll.write_text("John B-PER\nlives O\n\nMary B-PER\n", encoding="utf-8")
    words.write_text("北京\n", encoding="utf-8")
    assert main(["train", "tagger", "--corpus", str(conll), "--dictionary", str(words), "--run-dir",
                 str(tmp_path / "r"), *TINY]) == 2
    assert "--dictionary: needs a character-level BMES corpus" in capsys.readouterr().err


def test_tag_votes_on_word_boundaries_across_segmenters(segmenter, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["train", "tagger", "--corpus", "pd98-seg", "--run-dir", str(other), "--limit", "12", "--seed", "7",
                 "--bigram-embed-size", "4", *TINY]) == 0
    text = "中国人民解放军总政治部主任于永波在北京会见了来访的外国客人"
    capsys.readouterr()

    def tagged(run_dir, *votes):
        assert main(["tag", str(run_dir), text, *(arg for vote in votes for arg in ("--vote", str(vote)))]) == 0
        return capsys.readouterr().out.strip()

    alone, theirs = tagged(segmenter), tagged(other)
    assert alone != theirs                                      # two models that disagree, so the vote shows
    assert tagged(segmenter, other, other) == theirs            # two of three: the other's words
    assert tagged(other, segmenter, segmenter) == alone
    assert tagged(segmenter, segmenter) == alone


def test_tag_vote_refuses_a_tagger_that_is_not_a_segmenter(segmenter, tmp_path, capsys):
    conll = tmp_path / "ner.conll"
    conll.write_text("\n".join(f"{name} B-PER\nvisited O\n{city} B-LOC\n" for name, city in
                               [("Anna", "York"), ("Li", "Jose"), ("Bo", "Kong")] * 4), encoding="utf-8")
    assert main(["train", "tagger", "--corpus", str(conll), "--run-dir", str(tmp_path / "ner"), *TINY]) == 0
    capsys.readouterr()
    assert main(["tag", str(segmenter), "我爱北京", "--vote", str(tmp_path / "ner")]) == 2
    err = capsys.readouterr().err
    assert f"--vote: votes on word boundaries, --vote {tmp_path / 'ner'} is a word-level bio tagger" in err
    assert main(["tag", str(segmenter), "我爱北京", "--vote", str(tmp_path / "missing")]) == 2
    assert "--vote: expected the directory of a training run" in capsys.readouterr().err
