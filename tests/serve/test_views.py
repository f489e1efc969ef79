"""The lab's other views on tiny runs made by the command line: tagger, classifier, translation, memory task;
and the runs it refuses, with a message that names the directory."""
import random

import pytest
import torch
from starlette.testclient import TestClient

from rnnkit.cli.main import main
from rnnkit.serve import create_app, open_runs

TINY = ["--epochs", "1", "--embed-size", "8", "--hidden-size", "8", "--quiet", "--threads", "1"]


def lab(run_dir):
    runs = open_runs([str(run_dir)], torch.device("cpu"))
    return runs[0], TestClient(create_app(runs), base_url="http://127.0.0.1:8000")


def post(client, run, action, body):
    answer = client.post(f"/api/runs/{run.id}/{action}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def tagger_run(tmp_path, name, sentences):
    """A tagger trained briefly on a CoNLL file of ``sentences`` (lists of (token, tag))."""
    corpus = tmp_path / f"{name}.conll"
    corpus.write_text("\n".join("".join(f"{token} {tag}\n" for token, tag in s) for s in sentences), encoding="utf-8")
    assert main(["train", "tagger", "--corpus", str(corpus), "--run-dir", str(tmp_path / name), "--lr", "0.05",
                 *TINY, "--epochs", "3"]) == 0
    return tmp_path / name


def test_tagger_segments_as_typed(tmp_path):
    words = [["我", "爱", "北京"], ["天安门", "很", "大"], ["我们", "爱", "天安门"]] * 6
    tags = {1: ["S"], 2: ["B", "E"], 3: ["B", "M", "E"]}
    run, client = lab(tagger_run(tmp_path, "seg", [[(ch, tag) for word in sentence for ch, tag in
                                                   zip(word, tags[len(word)])] for sentence in words]))
    assert client.get("/api/runs").json()["runs"][0]["about"]["scheme"] == "bmes"
    answer = post(client, run, "tag", {"text": "我爱天安门"})
    assert answer["tokens"] == list("我爱天安门") and len(answer["tags"]) == 5
    assert "".join(answer["words"]) == "我爱天安门" and answer["entities"] is None
    assert post(client, run, "tag", {"text": ""})["tokens"] == []


def test_tagger_marks_entities_as_typed(tmp_path):
    sentences = [[(name, "B-PER"), ("visited", "O"), (city, "B-LOC"), (second, "I-LOC")]
                 for name, city, second in [("Anna", "New", "York"), ("Li", "San", "Jose"), ("Bo", "Hong", "Kong")] * 4]
    run, client = lab(tagger_run(tmp_path, "ner", sentences))
    answer = post(client, run, "tag", {"text": "Anna visited San Jose"})
    assert answer["tokens"] == ["Anna", "visited", "San", "Jose"] and answer["joiner"] == " "
    assert answer["words"] is None
    assert all(0 <= start < end <= 4 and kind in ("PER", "LOC") for start, end, kind in answer["entities"])


def test_classifier_probabilities_as_typed(tmp_path):
    from rnnkit.tasks.classifier import classify_tokens

    run_dir = tmp_path / "reviews"
    assert main(["train", "classifier", "--corpus", "reviews-zh", "--run-dir", str(run_dir), "--limit", "24",
                 "--max-len", "30", "--bigram-embed-size", "4", *TINY]) == 0
    run, client = lab(run_dir)
    answer = post(client, run, "classify", {"text": "质量很好" * 20})
    assert answer["labels"] == ["neg", "pos"] and answer["tokens"] == 30
    expected = classify_tokens(run.model.model, run.model.encoder, [list("质量很好" * 20)[:30]])[0]
    assert answer["probabilities"] == pytest.approx(expected.tolist(), abs=1e-4)


def test_translation_shows_the_attention_of_the_typed_sentence(tmp_path):
    rng = random.Random(0)
    digits_zh = "零一二三四五六七八九"
    digits_en = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    lines = []
    for _ in range(60):
        digits = [rng.randrange(10) for _ in range(rng.randint(1, 3))]
        lines.append(" ".join(digits_en[d] for d in digits) + "\t" + "".join(digits_zh[d] for d in digits))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = tmp_path / "zh-en"
    assert main(["train", "seq2seq", "--pairs", str(pairs), "--src-col", "1", "--tgt-col", "0", "--src-level", "char",
                 "--attention", "luong-general", "--batch-size", "16", "--run-dir", str(run_dir), *TINY]) == 0
    run, client = lab(run_dir)
    answer = post(client, run, "align", {"sentence": "三一", "beam": 2})
    expected = run.model.align("三一", beam_size=2)
    assert answer["translation"] == expected.translation and answer["source"] == ["三", "一"]
    assert answer["target"] == expected.target and len(answer["weights"]) == len(expected.target)
    assert all(abs(sum(row) - 1) < 1e-3 for row in answer["weights"])
    refused = client.post(f"/api/runs/{run.id}/align", json={"sentence": "  "})
    assert refused.status_code == 400 and refused.json()["error"].startswith("sentence: empty")


def test_memory_run_shows_its_lag_curves_against_an_untrained_model(tmp_path):
    from rnnkit.data.synthetic import SequenceBatch, memory_task
    from rnnkit.diagnostics import diagnose

    root = tmp_path / "memory"
    assert main(["memory", "--task", "adding", "--lag", "12", "--cell", "lstm", "--hidden-size", "8",
                 "--max-steps", "3", "--test-size", "16", "--run-dir", str(root), "--threads", "1"]) == 0
    run, client = lab(root / "adding-12-lstm")
    assert client.get("/api/runs").json()["runs"][0]["about"] == {
        "task": "adding", "lag": 12, "cell": "lstm", "hidden_size": 8, "layers": 1, "step": 3}
    answer = post(client, run, "flow", {})
    assert answer["lags"] == 12 and set(answer["curves"]) == {"trained", "untrained"}
    assert all(curve[0][0] == 1.0 and len(curve[0]) == 12 for curve in answer["curves"].values())
    data = memory_task("adding", 12, test_size=16)
    report = diagnose(run.model.model, SequenceBatch(data.test.x, data.test.y), jacobian_rows=0)
    assert answer["curves"]["trained"][0] == pytest.approx(report.flow.relative_by_lag(0).tolist(), rel=1e-3)
    assert answer["verdicts"]["trained"] == report.verdict
    norms = torch.tensor(answer["heatmap"]["norms"])
    assert norms.shape == (12, 12) and bool((norms.triu(1) == 0).all())


def test_directories_that_are_not_runs_are_refused_by_name(tmp_path):
    from rnnkit.train.checkpoint import save_checkpoint

    with pytest.raises(ValueError, match=r"RUN_DIR: .*nowhere is not a directory"):
        open_runs([str(tmp_path / "nowhere")], "cpu")
    with pytest.raises(ValueError, match=r"RUN_DIR: .*empty is not a run: no readable checkpoints/ckpt-NNNNNN/state"):
        (tmp_path / "empty").mkdir()
        open_runs([str(tmp_path / "empty")], "cpu")
    save_checkpoint(tmp_path / "series", torch.nn.Linear(2, 1), metadata={"task": "forecaster"})
    with pytest.raises(ValueError, match=r"holds a 'forecaster' run; the lab shows lm, seq2seq, tagger, classifier, "
                                           r"adding, copy, digits, pdigits runs"):
        open_runs([str(tmp_path / "series")], "cpu")
