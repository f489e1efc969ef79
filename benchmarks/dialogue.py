"""Chinese chit-chat: single- vs multi-turn context, each reply decoder, against retrieval and the commonest reply.

Data (``../shared/data/dialogue``, README there): LCCC (10,000 Weibo post/reply pairs to train on, its 2,000
valid pairs to test on; every pair is its own two-turn dialogue, so there is no history to read) and
KdConv (knowledge-grounded multi-turn chat about films, music and travel; only its dev and test
splits are available: the model trains on the 450 dev dialogues and is tested on the 450 test
dialogues). Both files keep the dialogues' order (a pair's query is the previous pair's reply
inside a dialogue), so :func:`rnnkit.data.dialogue.chain_pairs` rebuilds the dialogues; the script
prints how many it finds. 5 % of the training dialogues (seeded) are held out to pick the best
epoch and drive the plateau schedule.

Models (one per ``--only`` name; GRU, embeddings and hidden 128, bidirectional utterance encoder,
Luong general attention with input feeding, dropout 0.2, a reply language model of 128 for the anti-LM):

    lccc-single        LCCC, the query alone (turns=1)
    kdconv-single      KdConv, the query alone
    kdconv-separator   KdConv, the last 3 turns joined by </s>
    kdconv-hred        KdConv, the last 3 turns through the hierarchical encoder (HRED)

Each trains for ``--steps`` optimizer steps (one thread by default; its CPU and wall-clock minutes
are reported), keeps the weights of the best dev loss, and is scored: perplexity (teacher forcing)
on the whole test set and, for each decoder, BLEU-2 (sacrebleu, characters), distinct-1/2 and the
mean reply length (:func:`rnnkit.tasks.chatting.dialogue_scores`) on the scored exchanges: all of
LCCC's, and on KdConv the exchanges of every 4th test dialogue (its first included; every domain,
every turn of those dialogues; decoding all 9,287 exchanges with five decoders and three models
does not fit the CPU budget). Peers on the same exchanges: retrieval (the reply of the training
query nearest to the test query by TF-IDF over character 1-2-grams, cosine; scikit-learn) and the
training set's most frequent reply.

Not a test: run it by hand, one model per process, then print the table::

    python benchmarks/dialogue.py --only lccc-single --steps 1000 --score lccc-single --peers lccc
    python benchmarks/dialogue.py --only kdconv-hred --steps 400 --score kdconv-hred --peers kdconv
    python benchmarks/dialogue.py --report-only                # (and kdconv-single, kdconv-separator)

and copy the tables and the ten exchanges into BENCHMARKS.md (section "Dialogue").
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import platform
import random
import time
from collections import Counter
from pathlib import Path

import torch

from rnnkit.data.dialogue import ExchangeBatches, encode_exchanges, exchanges, read_pair_dialogues
from rnnkit.data.pairs import build_vocabulary
from rnnkit.tasks.chatbot import Chatbot, ChatbotConfig, Decoding
from rnnkit.tasks.chatting import Responder, dialogue_scores
from rnnkit.train import Callback, TrainConfig, Trainer, save_checkpoint

from translation import Clock                             # training CPU / wall minutes, as in translation.py

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dialogue"
SETS = {"lccc": ("lccc_toy_train.tsv", "lccc_toy_valid.tsv", 40), "kdconv": ("kdconv_dev.tsv", "kdconv_test.tsv", 60)}
SCORED_EVERY = {"lccc": 1, "kdconv": 4}        # decoders and peers score the exchanges of every n-th test dialogue
MODELS = {"lccc-single": ("lccc", "separator", 1), "kdconv-single": ("kdconv", "separator", 1),
          "kdconv-separator": ("kdconv", "separator", 3), "kdconv-hred": ("kdconv", "hred", 3)}
DECODERS = {
    "greedy": Decoding(),
    "beam 5": Decoding(beam_size=5),
    "beam 5, θ 1.2": Decoding(beam_size=5, repetition_penalty=1.2),
    "beam 5, θ 1.2, anti-LM": Decoding(beam_size=5, repetition_penalty=1.2, anti_lm=0.5, anti_lm_first=3),
    "beam 5, θ 1.2, anti-LM λ 0.25": Decoding(beam_size=5, repetition_penalty=1.2, anti_lm=0.25, anti_lm_first=3),
    "sampling": Decoding(sample=True, temperature=0.8, top_p=0.9),
    "sampling T 0.6": Decoding(sample=True, temperature=0.6, top_p=0.9),
    "sampling, anti-LM": Decoding(sample=True, temperature=0.8, top_p=0.9, anti_lm=0.5, anti_lm_first=3),
}
SHOWN = 10


def load(name: str, seed: int = 0, held_out: float = 0.05):
    """``(train dialogues, dev dialogues, test dialogues, reply limit)`` of a data set."""
    train_file, test_file, max_len = SETS[name]
    dialogues = read_pair_dialogues(DATA / train_file)
    test = read_pair_dialogues(DATA / test_file)
    order = list(range(len(dialogues)))
    random.Random(seed).shuffle(order)
    n_dev = round(held_out * len(dialogues))
    dev = [dialogues[i] for i in sorted(order[:n_dev])]
    train = [dialogues[i] for i in sorted(order[n_dev:])]
    turns = sum(len(d) for d in test)
    print(f"{name}: {len(dialogues)} training dialogues ({n_dev} held out), {len(test)} test dialogues "
          f"({turns - len(test)} exchanges; {turns / len(test):.1f} turns per dialogue)", flush=True)
    return train, dev, test, max_len


class KeepBest(Callback):
    """Keeps a copy of the weights of the lowest dev loss; :meth:`restore` loads them."""

    def __init__(self):
        self.best, self.weights = float("inf"), None

    def on_test_end(self, trainer, logs) -> None:
        if logs["loss"] < self.best:
            self.best, self.weights = logs["loss"], copy.deepcopy(trainer.model.state_dict())

    def restore(self, model) -> None:
        model.load_state_dict(self.weights)


def train_model(name: str, args) -> dict:
    """Trains ``name`` for the CPU budget, saves the weights of the best dev loss in ``OUT_DIR/NAME/best``
    and returns the training figures and the test perplexity."""
    data_name, context, turns = MODELS[name]
    train_d, dev_d, test_d, max_len = load(data_name)
    vocab = build_vocabulary([t for d in train_d for t in d], "char", min_count=args.min_count)
    train_x, dev_x, test_x = (exchanges(d, turns) for d in (train_d, dev_d, test_d))
    hierarchical = context == "hred"
    train = ExchangeBatches(encode_exchanges(train_x, vocab, max_len), args.batch_size, hierarchical=hierarchical)
    dev = ExchangeBatches(encode_exchanges(dev_x, vocab), args.batch_size, shuffle=False, hierarchical=hierarchical)
    test = ExchangeBatches(encode_exchanges(test_x, vocab), args.batch_size, shuffle=False, hierarchical=hierarchical)
    torch.manual_seed(args.seed)
    config = ChatbotConfig(len(vocab), len(vocab), cell="gru", embed_size=args.embed, hidden_size=args.hidden,
                           bidirectional=True, attention=args.attention, dropout=args.dropout, context=context,
                           anti_lm_size=args.hidden)
    model = Chatbot(config)
    clock, best = Clock(), KeepBest()
    metadata = {"task": "chatbot", "vocab": vocab.to_dict(), "turns": turns, "max_len": max_len}
    train_config = TrainConfig(lr=args.lr, schedule="plateau", gamma=0.5, plateau_patience=0, clip_norm=5.0,
                               epochs=args.epochs, max_steps=args.steps, seed=args.seed, log_every=50,
                               early_stopping_patience=3)
    trainer = Trainer(model, train_config, run_dir=Path(args.out_dir) / name / "run", metadata=metadata,
                      callbacks=[best], overwrite=True)
    trainer.fit(train, dev)
    cpu, wall = clock.minutes()
    best.restore(model)
    save_checkpoint(Path(args.out_dir) / name / "best", model, metadata=metadata, keep=1)
    result = {"name": name, "data": data_name, "context": context, "turns": turns, "vocab": len(vocab),
              "train_exchanges": len(train.examples), "test_exchanges": len(test_x), "epochs": trainer.epoch,
              "steps": trainer.step, "train_cpu_minutes": cpu, "train_wall_minutes": wall,
              "parameters": sum(p.numel() for p in model.parameters()),
              "dev_perplexity": math.exp(best.best), "perplexity": math.exp(trainer.evaluate(test)["loss"]),
              "decoders": {}}
    print(json.dumps({k: v for k, v in result.items() if k != "decoders"}), flush=True)
    return result


def score_model(name: str, result: dict, labels: list[str], args) -> dict:
    """Adds the scores of the decoders ``labels`` on the test exchanges to ``result``."""
    data_name, _, turns = MODELS[name]
    _, _, test_d, max_len = load(data_name)
    test_x = exchanges(test_d[::SCORED_EVERY[data_name]], turns)
    result["scored_exchanges"] = len(test_x)
    responder = Responder.from_checkpoint(Path(args.out_dir) / name / "best")
    contexts, references = [x.context for x in test_x], [x.reply for x in test_x]
    for label in labels:
        decoding = dataclasses.replace(DECODERS[label], max_len=max_len + 1)
        begun, cpu_begun = time.time(), time.process_time()
        replies = responder.replies(contexts, decoding, batch_size=args.batch_size,
                                    generator=torch.Generator().manual_seed(args.seed))
        scores = dialogue_scores(replies, references)
        result["decoders"][label] = {**scores, "seconds": time.time() - begun,
                                     "cpu_seconds": time.process_time() - cpu_begun, "first": replies[:SHOWN]}
        print(json.dumps({"name": name, "decoder": label, **scores, "cpu_seconds": time.process_time() - cpu_begun},
                         ensure_ascii=False), flush=True)
    return result


def peers(data_name: str) -> dict:
    """Retrieval (TF-IDF nearest training query) and the most frequent training reply, on the test exchanges."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    train_d, _, test_d, _ = load(data_name)
    test_d = test_d[::SCORED_EVERY[data_name]]
    train_x, test_x = exchanges(train_d, 1), exchanges(test_d, 1)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    keys = vectorizer.fit_transform([x.query for x in train_x])                  # (N, F), rows L2-normalised
    queries = vectorizer.transform([x.query for x in test_x])                    # (M, F)
    nearest = []
    for begin in range(0, queries.shape[0], 512):
        nearest += (queries[begin:begin + 512] @ keys.T).toarray().argmax(axis=1).tolist()
    references = [x.reply for x in test_x]
    retrieved = [train_x[i].reply for i in nearest]
    common = Counter(x.reply for x in train_x).most_common(1)[0][0]
    return {"retrieval (TF-IDF)": {**dialogue_scores(retrieved, references), "first": retrieved[:SHOWN]},
            f"most frequent reply ({common})": {**dialogue_scores([common] * len(test_x), references),
                                               "first": [common] * SHOWN},
            "human": {"first": references[:SHOWN], "contexts": [list(x.context) for x in exchanges(test_d, 3)[:SHOWN]]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(MODELS), help="train this model (then score it with --score)")
    parser.add_argument("--score", choices=sorted(MODELS), help="score this trained model's decoders")
    parser.add_argument("--decoders", nargs="+", choices=list(DECODERS), default=list(DECODERS),
                        help="with --score: these decoders")
    parser.add_argument("--peers", choices=sorted(SETS), help="score the peers on this data set")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps per model (at most --epochs)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--attention", default="luong-general")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--min-count", type=int, default=2, help="rarer characters read as <unk>")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="runs/dialogue")
    parser.add_argument("--report-only", action="store_true", help="print the tables of OUT_DIR/*.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        result = train_model(args.only, args)
        (out / f"{args.only}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.score:
        path = out / f"{args.score}.json"
        result = score_model(args.score, json.loads(path.read_text(encoding="utf-8")), args.decoders, args)
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.peers:
        (out / f"peers-{args.peers}.json").write_text(json.dumps(peers(args.peers), ensure_ascii=False, indent=1),
                                                      encoding="utf-8")
    if args.report_only:
        report(out, args.threads)


def report(out: Path, threads: int) -> None:
    """Prints the training table, the score table and the first exchanges of each test set."""
    models = [json.loads((out / f"{name}.json").read_text(encoding="utf-8")) for name in MODELS
              if (out / f"{name}.json").exists()]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {threads} thread(s)\n")
    print("| model | parameters | training exchanges | epochs (steps) | train CPU min | train wall min "
          "| dev perplexity |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        print(f"| {m['name']} | {m['parameters'] / 1e6:.1f} M | {m['train_exchanges']} | "
              f"{m['epochs']} ({m['steps']}) | "
              f"{m['train_cpu_minutes']:.1f} | {m['train_wall_minutes']:.1f} | {m['dev_perplexity']:.1f} |")
    print("\n| test set | context | decoder | perplexity | BLEU-2 | distinct-1 | distinct-2 | length | decode CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for data_name in SETS:
        path = out / f"peers-{data_name}.json"
        found = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for label, s in found.items():
            if label != "human":
                print(f"| {data_name} | — | {label} | — | {s['bleu2']:.2f} | {s['distinct1']:.3f} | "
                      f"{s['distinct2']:.3f} | {s['length']:.1f} | — |")
        for m in (m for m in models if m["data"] == data_name):
            context = "query only" if m["turns"] == 1 else f"{m['context']}, {m['turns']} turns"
            for label, s in m["decoders"].items():
                print(f"| {data_name} | {context} | {label} | {m['perplexity']:.1f} | {s['bleu2']:.2f} | "
                      f"{s['distinct1']:.3f} | {s['distinct2']:.3f} | {s['length']:.1f} | {s['cpu_seconds']:.0f} |")
    for data_name in SETS:
        path = out / f"peers-{data_name}.json"
        if not path.exists():
            continue
        found = json.loads(path.read_text(encoding="utf-8"))
        print(f"\n{data_name}: the first {SHOWN} test exchanges")
        for i, (context, human) in enumerate(zip(found["human"]["contexts"], found["human"]["first"])):
            print(f"{i + 1}. " + " / ".join(context) + f"\n   human: {human}")
            print(f"   retrieval: {found['retrieval (TF-IDF)']['first'][i]}")
            for m in (m for m in models if m["data"] == data_name):
                for label, s in m["decoders"].items():
                    print(f"   {m['name']}, {label}: {s['first'][i]}")


if __name__ == "__main__":
    main()
