"""Speech on the Free Spoken Digit Dataset (FSDD, ../shared/data/fsdd), side by side with classic peers.

* ``isolated``: ``rnnkit train asr --output word --split takes`` (the official split: takes 0-4 test,
  takes 5-49 train with 10 % held out as dev), each classifier of ``WORD_CONFIGS``; the one with the
  lowest dev loss is the result (all are reported). Peers on the same recordings: MFCC statistics +
  logistic regression and an RBF SVM (scikit-learn; C picked on the dev recordings) and
  nearest-template DTW on MFCCs (every training recording a template).
* ``loso``: the same per held-out speaker (``--split speaker:NAME``: train on five speakers, test on
  the sixth; a smaller classifier and at most ``LOSO_TEMPLATES`` DTW templates per speaker and
  digit, to fit the CPU budget); accuracy per speaker and the mean.
* ``strings``: ``rnnkit train asr --output ctc --max-words 7 --split takes``: strings of 1-7
  recordings joined with random silences and gains, training strings from training recordings and
  the 500 test strings from test recordings only; digit error rate (edit distance / reference
  digits) and string accuracy, greedy and beam 8, and the real-time factor of greedy decoding.
  Peer on the same 500 test strings: segment on silence (frame energy; threshold and gap picked on
  the dev strings) + the ``isolated`` classifier on each segment.

Training runs through the CLI with one intra-op thread; its cost is CPU minutes
(``time.process_time``). Not a test; run by hand (through the CPU-slot queue), e.g.::

    python benchmarks/asr.py isolated strings loso

The JSON of each part goes to ``benchmarks/results/asr_PART.json``; ``--reuse`` scores existing run
directories instead of training.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.cli.main import main as rnnkit_main
from rnnkit.data.audio import AudioFeatures, FeatureConfig
from rnnkit.data.digits import SpokenStrings, StringBuilder, StringOptions, Word
from rnnkit.data.speech import list_recordings, load_wave, split_recordings
from rnnkit.tasks.asr import SpeechModel, recognize
from rnnkit.tasks.scoring import transcript_scores

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
RESULTS = Path(__file__).resolve().parent / "results"
WORD_CONFIGS = {                        # the isolated-digit classifiers tried; the lowest dev loss is the result
    "lstm-mean": ["--cell", "lstm", "--hidden-size", "128", "--layers", "2", "--pooling", "mean", "--dropout", "0.2",
                  "--epochs", "40", "--patience", "8"],
    "gru-max": ["--cell", "gru", "--hidden-size", "128", "--layers", "2", "--pooling", "max", "--dropout", "0.3",
                "--epochs", "40", "--patience", "10"],
}
LOSO_ARGS = ["--output", "word", "--epochs", "15", "--hidden-size", "96", "--layers", "2", "--patience", "5"]
MAX_SILENCE = 0.2                       # seconds around each word of a string: [MAX_SILENCE / 6, MAX_SILENCE]
CTC_ARGS = ["--output", "ctc", "--max-words", "7", "--max-silence", str(MAX_SILENCE), "--epochs", "30", "--cell", "gru",
            "--hidden-size", "128", "--layers", "2", "--conv-stride", "3", "--lr", "3e-3", "--patience", "6",
            "--beam", "8"]
RATE = 8000
LOSO_TEMPLATES = 10                     # DTW templates per speaker and digit in the leave-one-speaker-out runs


def train(args: argparse.Namespace, run_dir: Path, command: list[str]) -> dict:
    """``rnnkit train asr ...`` into ``run_dir`` (unless ``--reuse`` finds its scores); its test scores,
    CPU minutes and best dev loss."""
    scores_path = run_dir / "test_scores.json"
    cost_path = run_dir / "cpu_minutes.json"
    if not (args.reuse and scores_path.exists()):
        full = ["train", "asr", "--data", str(args.fsdd), *command, "--run-dir", str(run_dir), "--overwrite",
                "--threads", "1", "--quiet"]
        print("rnnkit " + " ".join(full), flush=True)
        start = time.process_time()
        assert rnnkit_main(full) == 0
        cost_path.write_text(json.dumps({"cpu_minutes": (time.process_time() - start) / 60}))
    with open(run_dir / "log.csv", newline="") as log:
        dev_loss = min(float(row["val_loss"]) for row in csv.DictReader(log) if row["val_loss"])
    return {**json.loads(scores_path.read_text()), **json.loads(cost_path.read_text()), "best_dev_loss": dev_loss}


# ---------------------------------------------------------------------------------------------- classic peers
MFCC = AudioFeatures(FeatureConfig(RATE, n_mfcc=13, normalize="none"))


def mfcc(wave: torch.Tensor) -> np.ndarray:
    """``(T, 13)`` MFCC frames of one recording (the features rnnkit computes, without normalisation)."""
    x, _ = MFCC.raw(wave[None], torch.tensor([len(wave)]))
    return x[0].numpy()


def statistics(frames: np.ndarray) -> np.ndarray:
    """Mean, standard deviation, minimum and maximum of each coefficient and of its deltas, and the duration."""
    deltas = np.diff(frames, axis=0) if len(frames) > 1 else np.zeros_like(frames)
    return np.concatenate([f(x, axis=0) for x in (frames, deltas) for f in (np.mean, np.std, np.min, np.max)]
                          + [[len(frames)]])


def linear_peers(train_x, train_y, dev_x, dev_y, test_x, test_y) -> dict[str, float]:
    """Test accuracy of logistic regression and an RBF SVM on standardised statistics, C picked on dev."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    results = {}
    for name, make in (("logistic regression", lambda c: LogisticRegression(C=c, max_iter=5000)),
                       ("SVM (RBF)", lambda c: SVC(C=c))):
        best = max((0.01, 0.1, 1.0, 10.0, 100.0),
                   key=lambda c: make_pipeline(StandardScaler(), make(c)).fit(train_x, train_y).score(dev_x, dev_y))
        model = make_pipeline(StandardScaler(), make(best)).fit(train_x, train_y)
        results[name] = float(model.score(test_x, test_y))
    return results


def cmvn(frames: np.ndarray) -> np.ndarray:
    return (frames - frames.mean(0)) / (frames.std(0) + 1e-5)


def dtw_accuracy(templates: list[np.ndarray], template_labels: list[str], queries: list[np.ndarray],
                 query_labels: list[str]) -> float:
    """Nearest-template accuracy under DTW (steps (1,0), (0,1), (1,1); Euclidean frame cost; the total
    over the path divided by the two lengths), all templates of a query at once."""
    lengths = torch.tensor([len(t) for t in templates])
    padded = torch.zeros(len(templates), int(lengths.max()), templates[0].shape[1], dtype=torch.float64)
    for k, t in enumerate(templates):
        padded[k, :len(t)] = torch.from_numpy(cmvn(t).astype(np.float64))
    right = 0
    for query, label in zip(queries, query_labels):
        q = torch.from_numpy(cmvn(query).astype(np.float64))                              # (Tq, F)
        cost = torch.cdist(q[None].expand(len(templates), -1, -1), padded)                 # (K, Tq, Tt)
        total = cost[:, 0].cumsum(1)                                                       # row 0
        for i in range(1, len(q)):
            row = torch.empty_like(total)
            row[:, 0] = total[:, 0] + cost[:, i, 0]
            diagonal = torch.minimum(total[:, 1:], total[:, :-1])                          # from (i-1, j) or (i-1, j-1)
            for j in range(1, total.shape[1]):
                row[:, j] = cost[:, i, j] + torch.minimum(diagonal[:, j - 1], row[:, j - 1])
            total = row
        scores = total[torch.arange(len(templates)), lengths - 1] / (len(q) + lengths)
        right += template_labels[int(scores.argmin())] == label
    return right / len(queries)


def peers(fsdd: Path, split: str, templates: int | None = None) -> dict:
    """The classic peers on a split of FSDD: accuracies and CPU minutes (DTW: at most ``templates``
    training recordings of each speaker and digit, the lowest takes)."""
    train_r, dev_r, test_r = split_recordings(list_recordings(fsdd), split)
    frames = {name: [mfcc(load_wave(r.path, RATE)) for r in part]
              for name, part in (("train", train_r), ("dev", dev_r), ("test", test_r))}
    labels = {name: [r.transcript for r in part] for name, part in (("train", train_r), ("dev", dev_r), ("test", test_r))}
    start = time.process_time()
    stats = {name: np.stack([statistics(f) for f in part]) for name, part in frames.items()}
    results = linear_peers(stats["train"], labels["train"], stats["dev"], labels["dev"], stats["test"], labels["test"])
    linear_cost = (time.process_time() - start) / 60
    start = time.process_time()
    kept = [k for k, r in enumerate(train_r)
            if templates is None or sorted(x.take for x in train_r if (x.speaker, x.transcript) == (r.speaker, r.transcript)
                                           ).index(r.take) < templates]
    results["DTW nearest template"] = dtw_accuracy([frames["train"][k] for k in kept],
                                                   [labels["train"][k] for k in kept], frames["test"], labels["test"])
    results["DTW templates"] = len(kept)
    return {"accuracy": results, "linear_cpu_minutes": linear_cost, "dtw_cpu_minutes": (time.process_time() - start) / 60}


# ---------------------------------------------------------------------------------------------- the parts
def isolated(args: argparse.Namespace) -> dict:
    ours = {name: train(args, args.runs / f"isolated-{name}", ["--split", "takes", "--output", "word", *command])
            for name, command in WORD_CONFIGS.items()}
    return {"rnnkit": ours, "selected": selected_classifier(args).name, "peers": peers(args.fsdd, "takes")}


def selected_classifier(args: argparse.Namespace) -> Path:
    """The run directory of the ``isolated`` classifier with the lowest dev loss."""
    def dev_loss(name: str) -> float:
        with open(args.runs / f"isolated-{name}" / "log.csv", newline="") as log:
            return min(float(row["val_loss"]) for row in csv.DictReader(log) if row["val_loss"])
    return args.runs / f"isolated-{min(WORD_CONFIGS, key=dev_loss)}"


def loso(args: argparse.Namespace) -> dict:
    speakers = sorted({r.speaker for r in list_recordings(args.fsdd)})
    results = {}
    for speaker in speakers:
        ours = train(args, args.runs / f"loso-{speaker}", ["--split", f"speaker:{speaker}", *LOSO_ARGS])
        results[speaker] = {"rnnkit": ours, "peers": peers(args.fsdd, f"speaker:{speaker}", LOSO_TEMPLATES)}
        print(speaker, ours["accuracy"], results[speaker]["peers"]["accuracy"], flush=True)
    return results


def segments(wave: torch.Tensor, rate: int = RATE, floor_db: float = -35.0, gap: float = 0.06,
             shortest: float = 0.1) -> list[torch.Tensor]:
    """The parts of ``wave`` louder than ``floor_db`` under its loudest 10 ms frame, split at quieter
    runs of at least ``gap`` seconds; parts shorter than ``shortest`` seconds dropped."""
    hop = rate // 100
    frames = wave[:len(wave) // hop * hop].reshape(-1, hop)
    energy = 10 * torch.log10(frames.pow(2).mean(1) + 1e-12)
    loud = (energy > energy.max() + floor_db).tolist()
    parts, start, quiet, gap_frames = [], None, 0, max(1, round(gap * 100))
    for t, is_loud in enumerate(loud + [False] * gap_frames):
        if is_loud:
            start, quiet = (t if start is None else start), 0
        elif start is not None:
            quiet += 1
            if quiet >= gap_frames:
                end = t - quiet + 1
                if (end - start) / 100 >= shortest:
                    parts.append(wave[start * hop:end * hop])
                start, quiet = None, 0
    return parts


def test_strings(recordings, seed: int, count: int) -> list[tuple[torch.Tensor, str]]:
    """The strings ``rnnkit train asr ... --max-words 7 --max-silence MAX_SILENCE --seed 0`` builds from
    ``recordings`` (the CLI's dev set: seed 1, test set: seed 2)."""
    options = StringOptions(max_words=7, silence=(MAX_SILENCE / 6, MAX_SILENCE))
    builder = StringBuilder([Word(load_wave(r.path, RATE), r.transcript, r.speaker) for r in recordings], RATE, options)
    return SpokenStrings(builder, count, 32, list, seed=seed).fixed


def segment_and_classify(classifier: SpeechModel, strings, floor_db: float, gap: float) -> list[str]:
    return ["".join(r.text for r in recognize(classifier, parts)) if (parts := segments(wave, RATE, floor_db, gap))
            else "" for wave, _ in strings]


def segment_peer(args: argparse.Namespace) -> dict:
    """Segment on silence + the isolated classifier, on the same 500 test strings as the CTC run; the
    energy floor and the shortest gap picked by digit error rate on the CLI's dev strings."""
    _, dev_r, test_r = split_recordings(list_recordings(args.fsdd), "takes")
    classifier, _ = SpeechModel.from_checkpoint(selected_classifier(args) / "best")
    dev = test_strings(dev_r, 1, max(len(dev_r), 100))
    grid = [(floor, gap) for floor in (-25.0, -35.0, -45.0) for gap in (0.03, 0.05, 0.08)]
    errors = {setting: transcript_scores([t for _, t in dev], segment_and_classify(classifier, dev, *setting)
                                         )["error_rate"] for setting in grid}
    floor_db, gap = min(grid, key=errors.get)
    strings = test_strings(test_r, 2, 500)
    start = time.process_time()
    found = segment_and_classify(classifier, strings, floor_db, gap)
    seconds = sum(len(w) for w, _ in strings) / RATE
    scores = transcript_scores([text for _, text in strings], found)
    return {**scores, "real_time_factor": (time.process_time() - start) / seconds, "floor_db": floor_db, "gap": gap,
            "dev_error_rate": errors[(floor_db, gap)]}


def strings(args: argparse.Namespace) -> dict:
    ours = train(args, args.runs / "strings", ["--split", "takes", *CTC_ARGS])
    return {"rnnkit": ours, "segment + isolated classifier": segment_peer(args)}


PARTS = {"isolated": isolated, "loso": loso, "strings": strings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="+", choices=list(PARTS))
    parser.add_argument("--fsdd", type=Path, default=FSDD, help="the folder of FSDD's recordings")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-asr"), help="where the run directories go")
    parser.add_argument("--reuse", action="store_true", help="score existing run directories instead of training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.runs.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        result = PARTS[part](args)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"asr_{part}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
