"""``rnnkit train asr`` and ``rnnkit transcribe``: speech recognition (CTC, N -> M) and spoken words (N -> 1)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from .flags import add, count, nonnegative_float, positive_float, positive_int
from .task import TrainTask, format_scores, register_predict, register_task, task_checkpoint

TEST_UTTERANCES = 500
DEV_UTTERANCES = 100                    # at least this many dev strings: the best-model choice needs a steady loss


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "data", required=True)
    data.add_argument("--split", default="auto",
                      help="takes (takes 0-4 of LABEL_SPEAKER_TAKE.wav test: the FSDD split), speaker:NAME "
                           "(NAME's recordings test), random (80/10/10), or auto (takes when the names allow)")
    data.add_argument("--output", choices=["ctc", "word"], default="ctc",
                      help="ctc: transcribe symbol strings; word: one label per recording (a spoken-word classifier)")
    data.add_argument("--max-words", type=positive_int, default=1,
                      help="ctc: train and test on strings of 1..N recordings joined with random silences and gains "
                           "(each part from its own split's recordings); 1: each recording alone")
    data.add_argument("--utterances", type=positive_int,
                      help="with --max-words > 1: strings drawn afresh for each training pass "
                           "(default: as many as training recordings)")
    data.add_argument("--test-utterances", type=positive_int, default=TEST_UTTERANCES,
                      help="with --max-words > 1: strings of the fixed test set (the dev set has as many as dev recordings, "
                           f"at least {DEV_UTTERANCES})")
    data.add_argument("--max-silence", type=positive_float, default=0.3,
                      help="with --max-words > 1: seconds of silence around each word, drawn from [1/6, 1] of this")
    data.add_argument("--noise-snr", type=nonnegative_float,
                      help="with --max-words > 1: add white noise at a signal-to-noise ratio drawn from [DB, DB + 20] dB")
    add(data, "limit")
    features = parser.add_argument_group("features")
    features.add_argument("--sample-rate", type=positive_int, default=8000, help="Hz the model hears (files are resampled)")
    features.add_argument("--n-mels", type=positive_int, default=40, help="mel channels")
    features.add_argument("--mfcc", type=count, default=0, help="cepstral coefficients per frame (0: log-mel channels)")
    features.add_argument("--normalize", choices=["utterance", "global", "none"], default="utterance",
                          help="per-utterance mean/variance, or global statistics of the training set")
    features.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=True,
                          help="SpecAugment's frequency and time masks in training")
    model = parser.add_argument_group("model")
    add(model, "cell", "lstm", choices=("lstm", "gru"))
    add(model, "hidden_size", 128)
    add(model, "layers", 2)
    add(model, "dropout", 0.2)
    model.add_argument("--conv-channels", type=count, default=64, help="channels of the strided convolution (0: none)")
    model.add_argument("--conv-stride", type=positive_int, default=2, help="frames per convolution output (subsampling)")
    model.add_argument("--pooling", choices=["mean", "max"], default="mean", help="word: how frames become one vector")
    add(model, "beam", 8, help="ctc: prefix beam width of the beam scores (1: greedy only)")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data.audio import FeatureConfig
    from ..data.speech import list_recordings, split_recordings
    from ..tasks.asr import AsrConfig, SpeechModel
    from .task import fingerprint

    parts = split_recordings(list_recordings(args.data), args.split, seed=args.seed)
    train, dev, test = (part[:args.limit] for part in parts) if args.limit else parts
    if args.output == "word":
        labels = sorted({r.transcript for r in train})
    else:                                       # strings of words longer than a character are joined by spaces
        spaced = args.max_words > 1 and any(len(r.transcript) > 1 for r in train)
        labels = sorted({c for r in train for c in r.transcript} | ({" "} if spaced else set()))
    features = FeatureConfig(args.sample_rate, n_mels=args.n_mels, n_mfcc=args.mfcc, normalize=args.normalize)
    masks = 2 if args.spec_augment else 0
    config = AsrConfig(tuple(labels), args.output, features, args.conv_channels, args.conv_stride, args.cell,
                       args.hidden_size, args.layers, args.dropout, args.pooling, freq_masks=masks, time_masks=masks)
    print(f"{args.data}: {len(train)}/{len(dev)}/{len(test)} train/dev/test recordings, {len(labels)} "
          f"{'labels' if args.output == 'word' else 'symbols'}", file=sys.stderr)
    model = SpeechModel(config)
    sets = _datasets(args, model, {"train": train, "dev": dev, "test": test})
    if features.normalize == "global":
        model.features.set_statistics((b.waves, b.lengths) for b in sets["train"])
    metadata = {"task": "asr", "data": str(args.data), "split": args.split, "max_words": args.max_words}
    trainer = run.fit(model, sets["train"], sets["dev"], metadata,
                      data_hash=fingerprint([(str(r.path), r.transcript) for r in train]))
    return _score(trainer.model, sets["test"], args, run)


def _datasets(args: argparse.Namespace, model, parts: dict) -> dict:
    """Training, dev and test batches: each recording alone, or spoken strings (``--max-words``)."""
    from ..data.digits import SpokenStrings, StringBuilder, StringOptions, Word
    from ..data.speech import AudioBatches, Utterance, load_wave

    rate = model.config.features.sample_rate
    waves = {name: [load_wave(r.path, rate) for r in part] for name, part in parts.items()}
    if model.config.output == "word" or args.max_words == 1:
        return {name: AudioBatches([Utterance(w, model.encode_text(r.transcript)) for w, r in zip(waves[name], part)],
                                   args.batch_size, shuffle=name == "train")
                for name, part in parts.items()}
    noise = None if args.noise_snr is None else (args.noise_snr, args.noise_snr + 20.0)
    options = StringOptions(max_words=args.max_words, silence=(args.max_silence / 6, args.max_silence),
                            noise_snr_db=noise)
    builders = {name: StringBuilder([Word(w, r.transcript, r.speaker) for w, r in zip(waves[name], part)],
                                    rate, options) for name, part in parts.items()}
    sizes = {"train": args.utterances or len(parts["train"]), "dev": max(len(parts["dev"]), DEV_UTTERANCES),
             "test": args.test_utterances}
    seeds = {"train": None, "dev": args.seed + 1, "test": args.seed + 2}
    return {name: SpokenStrings(builders[name], sizes[name], args.batch_size, model.encode_text, seeds[name])
            for name in parts}


def _score(model, test, args: argparse.Namespace, run) -> dict:
    """Test scores: accuracy and the confusion matrix (word), or symbol error rate and string accuracy,
    greedy and beam (ctc); the greedy decoding's real-time factor."""
    from ..tasks.asr import recognize
    from ..tasks.plots import plot_confusion
    from ..tasks.scoring import classification_scores, format_confusion, transcript_scores

    labels = model.config.labels
    waves, gold = [], []
    for batch in test:
        for wave, n, k in zip(batch.waves, batch.lengths.tolist(), range(len(batch.lengths))):
            waves.append(wave[:n])
            gold.append(_target_text(batch, k, labels, model.config.output))
    seconds = sum(len(w) for w in waves) / model.config.features.sample_rate
    start = time.process_time()
    greedy = recognize(model, waves, 1, args.batch_size)
    rtf = (time.process_time() - start) / seconds
    scores: dict = {"data": str(args.data), "recordings_seconds": round(seconds, 1), "real_time_factor": rtf}
    if model.config.output == "word":
        scores.update(classification_scores([labels.index(g) for g in gold],
                                            [labels.index(r.text) for r in greedy], len(labels)))
        plot_confusion(scores["confusion"], labels, run.file("confusion.png"), title="test confusion matrix")
        print(f"test: {format_scores(scores, ['accuracy', 'macro_f1', 'real_time_factor'])}  recordings {len(gold)}")
        print(format_confusion(scores["confusion"], labels))
        return scores
    scores["greedy"] = transcript_scores(gold, [r.text for r in greedy])
    print(f"test greedy: {format_scores(scores['greedy'], ['error_rate', 'string_accuracy', 'strings'])}  "
          f"real-time factor {rtf:.4f}")
    if args.beam > 1:
        scores["beam"] = transcript_scores(gold, [r.text for r in recognize(model, waves, args.beam, args.batch_size)])
        print(f"test beam {args.beam}: {format_scores(scores['beam'], ['error_rate', 'string_accuracy'])}")
    return scores


def _target_text(batch, k: int, labels, output: str) -> str:
    if output == "word":
        return labels[int(batch.targets[k])]
    return "".join(labels[i - 1] for i in batch.targets[k, :int(batch.target_lengths[k])].tolist())


TASK = TrainTask(
    "asr", help="train a speech recogniser (CTC) or a spoken-word classifier on recordings",
    description="Trains log-mel (or MFCC) features -> strided convolution -> bidirectional LSTM/GRU on labelled "
                "recordings: with --output ctc a CTC recogniser of the transcripts' symbols (with --max-words N on "
                "strings of up to N recordings joined, test strings built from test recordings only), with "
                "--output word one label per recording. Keeps the model with the best dev loss and scores the test "
                "split: symbol error rate and string accuracy (greedy and beam), or accuracy and the confusion matrix "
                "(RUN_DIR/confusion.png).",
    add_flags=add_flags, run=run_train,
    training={"epochs": 30, "batch_size": 32, "lr": 2e-3, "patience": 6, "schedule": "plateau"})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    parser = register_predict(
        commands, "transcribe", help="transcribe recordings with a trained speech model",
        description="Prints FILE<TAB>TRANSCRIPT (ctc) or FILE<TAB>LABEL<TAB>PROBABILITY (word) per recording; "
                    "WAV needs nothing, other formats need soundfile (the audio extra). A stereo file is mixed down.",
        inputs=("files", "FILE", "recordings (WAV, or FLAC / OGG / MP3 with soundfile)"), batch_size=16,
        func=run_transcribe)
    add(parser, "beam", 1, help="prefix beam width (1: greedy)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {file, text, score, seconds}")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="draw the first file's spectrogram with the per-frame best output (the CTC alignment)")


def run_transcribe(args: argparse.Namespace) -> int:
    from ..data.speech import load_wave
    from ..tasks.asr import SpeechModel, alignment, recognize
    from ..tasks.plots import plot_alignment
    from .errors import CommandError
    from .task import resolve_device

    if not args.files:
        raise CommandError("FILE: expected at least one recording to transcribe")
    model, _ = SpeechModel.from_checkpoint(task_checkpoint(args.run_dir, "asr"), device=resolve_device(args.device))
    rate = model.config.features.sample_rate
    waves = [load_wave(path, rate) for path in args.files]
    found = recognize(model, waves, args.beam, args.batch_size)
    if args.json:
        print(json.dumps([{"file": path, "text": r.text, "score": r.score, "seconds": len(w) / rate}
                          for path, w, r in zip(args.files, waves, found)], ensure_ascii=False, indent=1))
    else:
        for path, r in zip(args.files, found):
            print(f"{path}\t{r.text}" + (f"\t{r.score:.3f}" if model.config.output == "word" else ""))
    if args.plot:
        spectrogram, labels, frame_seconds, label_seconds = alignment(model, waves[0])
        plot_alignment(spectrogram, frame_seconds, labels, label_seconds, args.plot,
                       title=f"{args.files[0]}: {found[0].text!r}")
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0
