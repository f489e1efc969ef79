r"""Scorers of the sequence tasks, on plain Python values (no tensors).

Word segmentation, as the SIGHAN bakeoff scorer counts (Emerson 2005): a word is a character
span; a system word is correct when the gold segmentation has the same span. Over the whole test
set, with C correct words, S system words and G gold words::

    P = C / S,   R = C / G,   F1 = 2PR / (P + R)
    OOV recall = correct gold words not in the training words / gold words not in the training words

Entities, as conlleval counts: a predicted entity is correct when type, start and end all match;
P, R and F1 as above over entities, overall and per type.

Classification: accuracy, macro-F1 (the unweighted mean over classes of each class's F1, a class
with neither gold nor predicted examples left out) and the confusion matrix ``M[gold][predicted]``.
Regression: RMSE and MAE.

Transcripts (speech recognition): the symbol error rate ``(S + D + I) / N``, the minimum number of
substitutions, deletions and insertions that turn each hypothesis into its reference (Levenshtein),
summed over the test set, over the N reference symbols; and the share of exactly right strings.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Collection, Sequence

from ..data.tagging import entity_spans, words_from_bmes


def prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    """``{"precision", "recall", "f1"}`` from counts; a 0/0 ratio is 0."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _spans(words: Sequence[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for word in words:
        spans.append((start, start + len(word)))
        start += len(word)
    return spans


def segmentation_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                        train_words: Collection[str] = ()) -> dict[str, float]:
    """Word-level P/R/F1 and OOV recall of segmented sentences (see the module docstring).

    Arguments:
        gold, predicted: per sentence, its words; both must join to the same text.
        train_words: the training dictionary for OOV recall (empty: every word counts as OOV).
    Returns:
        ``{"precision", "recall", "f1", "oov_recall", "oov_rate", "words"}`` (``words``: gold words G).
    """
    _check_pairs(gold, predicted)
    correct = n_gold = n_predicted = oov = oov_correct = 0
    for index, (gold_words, predicted_words) in enumerate(zip(gold, predicted)):
        if "".join(gold_words) != "".join(predicted_words):
            raise ValueError(f"predicted: sentence {index} joins to {''.join(predicted_words)!r}, "
                             f"expected the gold text {''.join(gold_words)!r}")
        system = set(_spans(predicted_words))
        n_gold += len(gold_words)
        n_predicted += len(predicted_words)
        for word, span in zip(gold_words, _spans(gold_words)):
            hit = span in system
            correct += hit
            if word not in train_words:
                oov += 1
                oov_correct += hit
    scores = prf(correct, n_predicted, n_gold)
    scores.update(oov_recall=oov_correct / oov if oov else 0.0, oov_rate=oov / n_gold if n_gold else 0.0,
                  words=n_gold)
    return scores


def bmes_segmentation_scores(tokens: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]],
                             predicted_tags: Sequence[Sequence[str]],
                             train_words: Collection[str] = ()) -> dict[str, float]:
    """:func:`segmentation_scores` of BMES-tagged sentences."""
    _check_pairs(gold_tags, predicted_tags)
    return segmentation_scores([words_from_bmes(t, g) for t, g in zip(tokens, gold_tags)],
                               [words_from_bmes(t, p) for t, p in zip(tokens, predicted_tags)], train_words)


def entity_scores(gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level P/R/F1 of BIO or BIOES tag sequences, overall and per type.

    Returns:
        ``{"precision", "recall", "f1", "entities", "TYPE_precision", "TYPE_recall", "TYPE_f1", ...}``
        (``entities``: the number of gold entities).
    """
    _check_pairs(gold_tags, predicted_tags)
    correct, n_gold, n_predicted = Counter(), Counter(), Counter()
    for index, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(f"predicted_tags: sentence {index} has {len(predicted)} tags, expected {len(gold)}")
        gold_spans, predicted_spans = set(entity_spans(gold)), set(entity_spans(predicted))
        n_gold.update(kind for _, _, kind in gold_spans)
        n_predicted.update(kind for _, _, kind in predicted_spans)
        correct.update(kind for _, _, kind in gold_spans & predicted_spans)
    scores = prf(sum(correct.values()), sum(n_predicted.values()), sum(n_gold.values()))
    scores["entities"] = sum(n_gold.values())
    for kind in sorted(set(n_gold) | set(n_predicted)):
        scores.update({f"{kind}_{k}": v for k, v in prf(correct[kind], n_predicted[kind], n_gold[kind]).items()})
    return scores


def token_accuracy(gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"accuracy", "tokens"}``: the share of tokens whose tag is right (tag sets without a scheme)."""
    _check_pairs(gold_tags, predicted_tags)
    total = sum(len(g) for g in gold_tags)
    right = sum(g == p for gold, pred in zip(gold_tags, predicted_tags) for g, p in zip(gold, pred))
    return {"accuracy": right / total if total else 0.0, "tokens": total}


def classification_scores(gold: Sequence[int], predicted: Sequence[int], num_classes: int) -> dict:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix of class ids in ``[0, num_classes)``.

    Returns:
        ``{"accuracy", "macro_f1", "f1": [per class], "confusion": [[count]] (rows gold, columns predicted)}``.
    """
    _check_pairs(gold, predicted)
    if not gold:
        raise ValueError("gold: expected at least one example, got none")
    confusion = [[0] * num_classes for _ in range(num_classes)]
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    f1s, present = [], []
    for k in range(num_classes):
        n_gold, n_predicted = sum(confusion[k]), sum(row[k] for row in confusion)
        f1s.append(prf(confusion[k][k], n_predicted, n_gold)["f1"])
        if n_gold or n_predicted:
            present.append(f1s[-1])
    accuracy = sum(confusion[k][k] for k in range(num_classes)) / len(gold)
    return {"accuracy": accuracy, "macro_f1": sum(present) / len(present), "f1": f1s, "confusion": confusion}


def regression_scores(truth: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """``{"rmse", "mae"}`` over all values."""
    _check_pairs(truth, predicted)
    if not truth:
        raise ValueError("truth: expected at least one value, got none")
    errors = [p - t for t, p in zip(truth, predicted)]
    return {"rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
            "mae": sum(abs(e) for e in errors) / len(errors)}


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """The Levenshtein distance: fewest substitutions, deletions and insertions from ``hypothesis`` to ``reference``."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def transcript_scores(gold: Sequence[Sequence], predicted: Sequence[Sequence]) -> dict[str, float]:
    """``{"error_rate", "string_accuracy", "symbols", "strings"}`` of hypotheses against references
    (strings or symbol lists; see the module docstring)."""
    _check_pairs(gold, predicted)
    symbols = sum(len(g) for g in gold)
    if not symbols:
        raise ValueError("gold: expected reference transcripts with at least one symbol, got none")
    errors = sum(edit_distance(g, p) for g, p in zip(gold, predicted))
    right = sum(list(g) == list(p) for g, p in zip(gold, predicted))
    return {"error_rate": errors / symbols, "string_accuracy": right / len(gold), "symbols": symbols,
            "strings": len(gold)}


def format_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """The confusion matrix as aligned text: one row per gold label, one column per predicted label."""
    width = max(max(len(str(label)) for label in labels), max(len(str(n)) for row in confusion for n in row), 4)
    header = " ".join(f"{label:>{width}}" for label in labels)
    lines = [" " * width + " | " + header + "   (rows: gold, columns: predicted)"]
    for label, row in zip(labels, confusion):
        lines.append(f"{label:>{width}} | " + " ".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)


def _check_pairs(gold: Sequence, predicted: Sequence) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"predicted: expected {len(gold)} items, one per gold item, got {len(predicted)}")
