"""Scorers against hand-computed examples."""
import math

import pytest

from rnnkit.tasks.scoring import (bmes_segmentation_scores, classification_scores, entity_scores,
                                  format_confusion, regression_scores, segmentation_scores, token_accuracy)

GOLD = [["结婚", "的", "和", "尚未", "结婚", "的"], ["我", "爱", "北京"]]
PREDICTED = [["结婚", "的", "和尚", "未", "结婚", "的"], ["我爱", "北京"]]


def test_segmentation_counts_words_as_character_spans():
    # correct: 结婚 的 结婚 的 | 北京 -> C = 5 of S = 8 system and G = 9 gold words
    scores = segmentation_scores(GOLD, PREDICTED, train_words={"结婚", "的", "和", "我", "爱"})
    assert scores["precision"] == pytest.approx(5 / 8)
    assert scores["recall"] == pytest.approx(5 / 9)
    assert scores["f1"] == pytest.approx(10 / 17)
    assert scores["oov_rate"] == pytest.approx(2 / 9)                          # 尚未, 北京
    assert scores["oov_recall"] == pytest.approx(1 / 2)                        # 北京 found, 尚未 not
    assert scores["words"] == 9


def test_bmes_scores_equal_word_scores():
    tokens = [list("结婚的和尚未结婚的"), list("我爱北京")]
    gold = [list("BESSBEBES"), list("SSBE")]
    predicted = [list("BESBESBES"), list("BEBE")]
    assert bmes_segmentation_scores(tokens, gold, predicted) == segmentation_scores(GOLD, PREDICTED)


def test_segmentation_rejects_a_different_text():
    with pytest.raises(ValueError, match="sentence 0 joins to '我'"):
        segmentation_scores([["你"]], [["我"]])


def test_entity_scores_overall_and_per_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["I-LOC", "I-LOC", "I-LOC"]]   # I- after nothing opens an entity
    scores = entity_scores(gold, predicted)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert scores["entities"] == 3
    assert (scores["PER_precision"], scores["PER_f1"]) == (1.0, 1.0)
    assert (scores["LOC_precision"], scores["LOC_recall"], scores["LOC_f1"]) == (0.0, 0.0, 0.0)
    assert scores["ORG_precision"] == 0.0


def test_token_accuracy():
    assert token_accuracy([["n", "v"], ["a"]], [["n", "n"], ["a"]]) == {"accuracy": 2 / 3, "tokens": 3}


def test_classification_scores_and_confusion_matrix():
    scores = classification_scores([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], num_classes=3)
    assert scores["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["f1"] == pytest.approx([0.5, 0.8, 0.0])
    assert scores["macro_f1"] == pytest.approx(1.3 / 3)
    text = format_confusion(scores["confusion"], ["neg", "pos", "mid"])
    assert text.splitlines()[2].split() == ["pos", "|", "0", "2", "0"]


def test_macro_f1_leaves_out_absent_classes():
    assert classification_scores([1, 1], [1, 1], num_classes=3)["macro_f1"] == 1.0


def test_regression_scores():
    scores = regression_scores([1.0, 2.0, 3.0], [2.0, 2.0, 5.0])
    assert scores == pytest.approx({"rmse": math.sqrt(5 / 3), "mae": 1.0})


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="predicted: expected 2 items"):
        classification_scores([0, 1], [0], num_classes=2)
