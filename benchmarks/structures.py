r"""Trees and graphs, side by side with their peers (BENCHMARKS.md, "Trees and graphs").

* ``sst``: the Stanford Sentiment Treebank (``--data``, no pretrained vectors), root accuracy fine-grained
  (5 classes) and binary (non-neutral roots), for the Child-Sum and the binary Tree-LSTM
  (``rnnkit.tasks.treesent``) and a BiLSTM over the same tokens (``rnnkit.tasks.classifier``, final
  states of both directions, trained on every labelled phrase of the treebank as a sentence of its
  own, so that it gets the trees' supervision), each with the same CPU-minute budget. Every run is
  scored on dev every ``--eval-every`` optimizer steps; the test figures are those of the best dev root
  accuracy. A fine-grained model also scores binary sentiment (p(3) + p(4) > p(0) + p(1)).
* ``babi``: ``rnnkit train ggnn`` for tasks 4, 15, 16, 18, 19 on every fold, with the first 50 and with
  950 training stories (the last 50 are dev); test accuracy mean and spread over the folds. Peer: an
  LSTM over the linearised story (``processed_1/rnn/``: Li et al.'s token files, fold 1 only), the
  answer (19: the pair of directions) as one class, the same stories and dev split.
* ``speed``: SST training trees, forward + backward, trees/s: the level schedule (the kernel with the
  hand-derived backward, and the autograd level loop) against the per-node recursion, in alternating
  rounds in one process.

One intra-op thread (``--threads``); training cost in CPU minutes (``time.process_time``). Results go
to ``benchmarks/results/structures_<OUT>.json`` (``--out``, default the part); the script prints the
markdown tables.

    python benchmarks/structures.py speed --data ../shared/data/sst --rounds 5 --trees 512 --per-node-trees 100
    python benchmarks/structures.py babi --babi ../shared/data/babi --stories 50 --peer-minutes 1 --out babi
    python benchmarks/structures.py babi --babi ../shared/data/babi --tasks 19 --stories 100 250 --no-peer --out babi_19
    python benchmarks/structures.py babi --babi ../shared/data/babi --stories 950 --folds 1 --peer-minutes 2 \
        --out babi_950
    python benchmarks/structures.py sst --data ../shared/data/sst --granularity fine --minutes 3 --eval-every 170 \
        --out sst_fine
    python benchmarks/structures.py sst --data ../shared/data/sst --granularity binary --minutes 3 --eval-every 170 \
        --out sst_binary
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.cli.main import main as rnnkit_main
from rnnkit.train import Callback, TrainConfig, Trainer

RESULTS = Path(__file__).parent / "results"
TASKS = (4, 15, 16, 18, 19)


def table(header: list[str], rows: list[list]) -> str:
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows])


def save(part: str, result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"structures_{result['args']['out'] or part}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- SST
class DevSelection(Callback):
    """Scores dev (and test) every ``every`` steps; keeps the test scores of the best dev root accuracy;
    stops when the process has used ``minutes`` of CPU time since training began."""

    def __init__(self, score, every: int, minutes: float):
        self.score, self.every, self.minutes = score, every, minutes
        self.best, self.curve, self.start = None, [], time.process_time()

    def on_train_batch_end(self, trainer, logs):
        spent = (time.process_time() - self.start) / 60
        if trainer.step % self.every == 0 or spent >= self.minutes:
            dev, test = self.score(trainer.model, "dev"), self.score(trainer.model, "test")
            trainer.model.train()
            self.curve.append({"step": trainer.step, "cpu_minutes": spent, "dev": dev, "test": test})
            if self.best is None or dev["root_accuracy"] > self.best["dev"]["root_accuracy"]:
                self.best = self.curve[-1]
        if spent >= self.minutes:
            trainer.stop_training = True


def sst(args: argparse.Namespace) -> dict:
    from rnnkit.data.trees import load_treebank

    treebank = load_treebank(args.data)
    runs = []
    for granularity in args.granularity:
        for model in args.models:
            for seed in args.seeds:
                torch.manual_seed(seed)
                train_model = sst_tree_run if model != "bilstm" else sst_bilstm_run
                best, curve, steps = train_model(treebank, model, granularity, seed, args)
                runs.append({"model": model, "granularity": granularity, "seed": seed, "steps": steps,
                             "best": best, "curve": curve})
                print(f"{model} {granularity} seed {seed}: dev {best['dev']['root_accuracy']:.4f} test "
                      f"{best['test']['root_accuracy']:.4f} at {best['cpu_minutes']:.1f} CPU min", flush=True)
                save("sst", {"args": vars(args), "runs": runs})
    rows = []
    for run in runs:
        test = run["best"]["test"]
        binary = test.get("binary_root_accuracy", test["root_accuracy"] if run["granularity"] == "binary" else None)
        rows.append([run["model"], run["granularity"], run["seed"], test["root_accuracy"] if run["granularity"] == "fine"
                     else "", binary, run["best"]["dev"]["root_accuracy"], run["best"]["cpu_minutes"],
                     run["curve"][-1]["cpu_minutes"]])
    print(table(["model", "trained on", "seed", "test fine", "test binary", "dev", "CPU min to best", "CPU min"], rows))
    return {"runs": runs}


def sst_tree_run(treebank, cell, granularity, seed, args):
    from rnnkit.data.tree_batches import TreeBatches
    from rnnkit.tasks.treesent import TreeSentiment, TreeSentimentConfig, sentiment_examples, sentiment_scores, \
        word_vocabulary

    vocabulary = word_vocabulary(treebank["train"], True, 1)
    examples = {k: sentiment_examples(v, vocabulary, granularity, True) for k, v in treebank.items()}
    model = TreeSentiment(TreeSentimentConfig(len(vocabulary), cell, granularity, args.embed_size, args.hidden_size,
                                              args.dropout))
    selection = DevSelection(lambda m, split: sentiment_scores(m, examples[split]), args.eval_every, args.minutes)
    config = TrainConfig(optimizer="adagrad", lr=args.lr, weight_decay=args.weight_decay, epochs=1000,
                         clip_norm=5.0, seed=seed, progress=False)
    trainer = Trainer(model, config, callbacks=[selection])
    trainer.fit(TreeBatches(examples["train"], 25))
    return selection.best, selection.curve, trainer.step


def sst_bilstm_run(treebank, _, granularity, seed, args):
    from rnnkit.data.sequences import BucketBatches, Example, count_vocabulary
    from rnnkit.tasks.classifier import Classifier, ClassifierConfig
    from rnnkit.tasks.treesent import BINARY

    def spans(tree):                                              # every node's words, left to right
        words = {j: [tree.tokens[j].lower()] for j in tree.leaves}
        for j in tree.order.tolist():
            if tree.children[j]:
                words[j] = [w for c in tree.children[j] for w in words[c]]
        return words

    def label(y):
        return BINARY[y] if granularity == "binary" else y

    vocabulary = count_vocabulary([[w.lower() for w in t.words()] for t in treebank["train"]], "word", 1)

    def encode(words):
        return [vocabulary.index.get(w, 0) for w in words]

    phrases = []
    for tree in treebank["train"]:
        words = spans(tree)
        phrases += [Example(encode(words[j]), None, label(tree.labels[j])) for j in words if label(tree.labels[j]) >= 0]
    sentences = {split: [(encode([w.lower() for w in t.words()]), t.labels[t.root]) for t in trees
                         if label(t.labels[t.root]) >= 0] for split, trees in treebank.items()}
    classes = 5 if granularity == "fine" else 2
    model = Classifier(ClassifierConfig(len(vocabulary), tuple(map(str, range(classes))), 0, "lstm", args.embed_size,
                                        50, args.hidden_size, 1, True, "last", args.dropout))

    def score(m, split):
        m.eval()
        ids, gold = zip(*sentences[split])
        batches = BucketBatches([Example(i, None, 0) for i in ids], 256, shuffle=False)
        p = torch.zeros(len(ids), classes)
        with torch.no_grad():
            for indices, batch in zip(batches.batch_indices(), batches):
                p[indices] = m(batch.tokens, batch.lengths).softmax(-1)
        right = [int(p[i].argmax()) == label(y) for i, y in enumerate(gold)]
        scores = {"root_accuracy": sum(right) / len(right), "trees": len(right)}
        if granularity == "fine":
            polar = [(i, BINARY[y]) for i, y in enumerate(gold) if BINARY[y] >= 0]
            scores["binary_root_accuracy"] = sum(bool(p[i, 3:].sum() > p[i, :2].sum()) == (b == 1)
                                                 for i, b in polar) / len(polar)
        return scores

    selection = DevSelection(score, args.eval_every * 4, args.minutes)
    config = TrainConfig(optimizer="adam", lr=2e-3, epochs=1000, clip_norm=5.0, seed=seed, progress=False)
    trainer = Trainer(model, config, callbacks=[selection])
    trainer.fit(BucketBatches(phrases, 100))
    return selection.best, selection.curve, trainer.step


# ---------------------------------------------------------------------------------------------- bAbI
def babi(args: argparse.Namespace) -> dict:
    results = {}
    for task in args.tasks:
        for stories in args.stories:
            accuracies, cpu = [], []
            for fold in args.folds:
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.process_time()
                    code = rnnkit_main(["train", "ggnn", "--babi", str(Path(args.babi) / f"processed_{fold}"),
                                        "--task", str(task), "--train-stories", str(stories), "--run-dir", tmp,
                                        "--quiet", "--threads", str(args.threads), *args.ggnn_flags])
                    assert code == 0, code
                    cpu.append((time.process_time() - start) / 60)
                    accuracies.append(json.loads((Path(tmp) / "test_scores.json").read_text())["accuracy"])
            results[f"ggnn {task} {stories}"] = {"accuracies": accuracies, "cpu_minutes": cpu}
            print(f"ggnn task {task}, {stories} stories: {100 * statistics.mean(accuracies):.1f} ± "
                  f"{100 * statistics.pstdev(accuracies):.1f} % over {len(accuracies)} folds", flush=True)
            if args.peer:
                start = time.process_time()
                accuracy = lstm_peer(Path(args.babi) / "processed_1" / "rnn", task, stories, args)
                results[f"lstm {task} {stories}"] = {"accuracies": [accuracy],
                                                      "cpu_minutes": [(time.process_time() - start) / 60]}
                print(f"lstm task {task}, {stories} stories (fold 1): {100 * accuracy:.1f} %", flush=True)
            save("babi", {"args": vars(args), "results": results})
    rows = []
    for key, value in results.items():
        model, task, stories = key.split()
        acc = value["accuracies"]
        rows.append([model, task, stories, f"{100 * statistics.mean(acc):.1f}",
                     f"{100 * statistics.pstdev(acc):.1f}" if len(acc) > 1 else "", f"{100 * min(acc):.1f}", len(acc),
                     f"{statistics.mean(value['cpu_minutes']):.2f}"])
    print(table(["model", "task", "stories", "test accuracy %", "spread (sd)", "worst fold", "folds",
                 "CPU min / run"], rows))
    return results


def lstm_peer(directory: Path, task: int, stories: int, args) -> float:
    """An LSTM over the linearised story (``T_tokens.txt``: ``... q1 n4 n6 ans 3 4``), the answer as one class."""
    from rnnkit.data.sequences import BucketBatches, Example, count_vocabulary
    from rnnkit.tasks.classifier import Classifier, ClassifierConfig

    def read(path):
        rows = []
        for line in path.read_text().splitlines():
            question, _, answer = line.partition(" ans ")
            story = question.rsplit(" q", 1)[0]
            rows.append((story, question.split(), answer.strip()))
        return rows

    train_rows = read(directory / "train" / f"{task}_tokens.txt")
    dev_rows = read(directory / "train" / f"{task}_tokens.txt.val")
    test_rows = read(directory / "test" / f"{task}_tokens.txt")
    kept, seen = [], []
    for story, tokens, answer in train_rows:                     # the questions of the first `stories` stories
        if story not in seen:
            seen.append(story)
        if len(seen) <= stories:
            kept.append((tokens, answer))
    vocabulary = count_vocabulary([t for t, _ in kept], "word", 1)
    answers = sorted({a for *_, a in train_rows + dev_rows + test_rows})
    encode = lambda rows: [Example([vocabulary.index.get(t, 0) for t in tokens], None, answers.index(a))
                           for *_, tokens, a in rows]
    data = {"train": encode(kept), "dev": encode([r[1:] for r in dev_rows]), "test": encode([r[1:] for r in test_rows])}
    model = Classifier(ClassifierConfig(len(vocabulary), tuple(answers), 0, "lstm", 50, 8, 100, 1, False, "last", 0.0))

    def accuracy(m, split):
        m.eval()
        batches = BucketBatches(data[split], 256, shuffle=False)
        right = 0
        with torch.no_grad():
            for batch in batches:
                right += int((m(batch.tokens, batch.lengths).argmax(1) == batch.targets).sum())
        return {"root_accuracy": right / len(data[split])}

    selection = DevSelection(accuracy, 20, args.peer_minutes)
    trainer = Trainer(model, TrainConfig(lr=3e-3, epochs=1000, seed=0, progress=False), callbacks=[selection])
    trainer.fit(BucketBatches(data["train"], 32))
    return selection.best["test"]["root_accuracy"]


# ---------------------------------------------------------------------------------------------- speed
def speed(args: argparse.Namespace) -> dict:
    from rnnkit.data.trees import sentiment_trees
    from rnnkit.structured import ChildSumTreeLSTMCell, NaryTreeLSTMCell, TreeSchedule, tree_forward, \
        tree_forward_per_node

    trees = sentiment_trees(Path(args.data) / "train.txt")
    cells = {"nary-tree-lstm": NaryTreeLSTMCell, "tree-lstm": ChildSumTreeLSTMCell}
    results = {}
    for (embed, hidden) in args.sizes:
        for name, cls in cells.items():
            cell = cls(embed, hidden)

            def batched(batch, kernel):
                schedule = TreeSchedule.build(batch)
                leaves = torch.tensor([o + j for t, o in zip(batch, schedule.offsets.tolist()) for j in t.leaves])
                x = torch.randn(len(leaves), embed, requires_grad=True)
                tree_forward(cell, x, schedule, leaves, kernel=kernel).h.sum().backward()

            def per_node(batch):
                x = torch.zeros(sum(len(t) for t in batch), embed)
                offset = 0
                for tree in batch:
                    x[[offset + j for j in tree.leaves]] = torch.randn(len(tree.leaves), embed)
                    offset += len(tree)
                tree_forward_per_node(cell, x.requires_grad_(), batch).h.sum().backward()

            paths = {f"kernel, batch {b}": (lambda t, b=b: batched(t, True), b) for b in args.batch_sizes}
            paths.update({f"autograd level loop, batch {b}": (lambda t, b=b: batched(t, False), b)
                          for b in args.batch_sizes})
            paths["per-node recursion"] = (per_node, 1)
            rates = {path: [] for path in paths}
            for round_ in range(args.rounds):
                start_tree = round_ * args.trees
                for path, (run, batch_size) in paths.items():
                    count = args.trees if path != "per-node recursion" else args.per_node_trees
                    chunk = trees[start_tree:start_tree + count]
                    begin = time.process_time()
                    for i in range(0, len(chunk), batch_size):
                        run(chunk[i:i + batch_size])
                    rates[path].append(len(chunk) / (time.process_time() - begin))
            base = statistics.median(rates["per-node recursion"])
            for path, values in rates.items():
                median = statistics.median(values)
                results[f"{name} E={embed} H={hidden} | {path}"] = {"trees_per_s": median, "ratio": median / base,
                                                                     "rounds": values}
                print(f"{name} E={embed} H={hidden} {path}: {median:.0f} trees/s ({median / base:.1f}x)", flush=True)
    save("speed", {"args": vars(args), "results": results})
    rows = [[key.split(" | ")[0], key.split(" | ")[1], round(v["trees_per_s"]), f"{v['ratio']:.1f}x"]
            for key, v in results.items()]
    print(table(["cell", "path", "trees/s (median)", "vs per-node"], rows))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["sst", "babi", "speed"])
    parser.add_argument("--data", default="../shared/data/sst", help="the SST directory")
    parser.add_argument("--babi", default="../shared/data/babi", help="the directory of processed_1..10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="results/structures_OUT.json (default: the part)")
    # sst
    parser.add_argument("--models", nargs="+", default=["nary-tree-lstm", "tree-lstm", "bilstm"])
    parser.add_argument("--granularity", nargs="+", default=["fine", "binary"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="CPU minutes per SST run")
    parser.add_argument("--eval-every", type=int, default=100, help="optimizer steps between dev scorings")
    parser.add_argument("--embed-size", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=150)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    # babi
    parser.add_argument("--tasks", nargs="+", type=int, default=list(TASKS))
    parser.add_argument("--stories", nargs="+", type=int, default=[50, 950])
    parser.add_argument("--folds", nargs="+", type=int, default=list(range(1, 11)))
    parser.add_argument("--ggnn-flags", nargs=argparse.REMAINDER, default=[], help="more rnnkit train ggnn flags")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True, help="the LSTM peer (fold 1)")
    parser.add_argument("--peer-minutes", type=float, default=3.0, help="CPU minutes per LSTM run")
    # speed
    parser.add_argument("--sizes", nargs="+", type=lambda s: tuple(map(int, s.split("x"))), default=[(300, 150), (100, 50)],
                        help="EMBEDxHIDDEN")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[25, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trees", type=int, default=512, help="trees per round of each batched path")
    parser.add_argument("--per-node-trees", type=int, default=40, help="trees per round of the per-node path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"sst": sst, "babi": babi, "speed": speed}[args.part](args)


if __name__ == "__main__":
    main()
