"""The language-model commands: ``rnnkit train lm``, ``rnnkit generate``, ``rnnkit evaluate``, and the
pieces ``rnnkit demo`` shares with them (corpus split, vocabulary, training, sampling).

They parse arguments and call ``rnnkit.data``, ``rnnkit.tasks`` and ``rnnkit.train``; heavy imports
happen inside the functions so ``rnnkit --help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import CommandError
from .flags import add, count
from .task import TrainTask, register_predict, register_task


def add_model_flags(parser: argparse.ArgumentParser, *, cell: str, layers: int, hidden_size: int, embed_size: int,
                    tie_weights: bool = False) -> None:
    """The language model's flags (its defaults differ between ``train lm`` and ``demo``)."""
    model = parser.add_argument_group("model")
    add(model, "cell", cell, choices=("srn", "lstm", "gru"))
    add(model, "layers", layers)
    add(model, "hidden_size", hidden_size)
    add(model, "embed_size", embed_size)
    add(model, "dropout", 0.0, help="dropout on the embeddings, between layers and before the output layer")
    add(model, "recurrent_dropout", 0.0)
    add(model, "zoneout", 0.0)
    add(model, "weight_drop", 0.0)
    add(model, "embedding_dropout", 0.0)
    add(model, "locked_dropout")
    add(model, "ar", 0.0)
    add(model, "tar", 0.0)
    add(model, "tie_weights", help="share the embedding with the output layer (needs --embed-size = --hidden-size)")
    if tie_weights:
        parser.set_defaults(tie_weights=True)
    add(model, "layer_norm")


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add(data, "corpus", required=True, help="poems, shakespeare, python, or a text file")
    add(data, "encoding", "utf-8")
    add(data, "level", "char")
    add(data, "max_vocab")
    add(data, "val_fraction", 0.1)
    add(data, "seq_len", 100)
    add(data, "bptt")
    add_model_flags(parser, cell="lstm", layers=2, hidden_size=512, embed_size=128)
    parser.add_argument("--sample-length", type=count, default=200,
                        help="tokens of a sample printed after training (0: none)")


def run_train(args: argparse.Namespace, run) -> dict:
    from ..data import corpus_description, split_corpus
    from ..tasks import perplexity_metrics

    corpus = corpus_description(args.corpus, args.encoding, args.val_fraction, args.seed)
    train_text, val_text = split_corpus(corpus)
    if args.resume:
        from ..tasks.lm import checkpoint_vocabulary
        from ..train import load_checkpoint

        vocab = checkpoint_vocabulary(load_checkpoint(run.path))          # the run's own, even if the corpus changed
        print(f"resuming {args.run_dir}: vocabulary of {len(vocab)} {vocab.level}s from the checkpoint")
    else:
        vocab = build_vocabulary(train_text + val_text, args.level, args.max_vocab)
    model, nats, steps = fit_language_model(run, model_config(args, len(vocab)), vocab, corpus, train_text, val_text)
    if args.sample_length:
        print(f"\nsample ({args.sample_length} {vocab.level}s, temperature 0.8):")
        stream(generate(model, vocab, "", args.sample_length, temperature=0.8, seed=args.seed))
    print(f"\nsaved in {args.run_dir}; continue with: rnnkit generate {args.run_dir} --prime '...'")
    return {"corpus": corpus["name"], "split": "validation", "steps": steps, **perplexity_metrics(nats)}


TASK = TrainTask(
    "lm", help="train a character- or word-level language model (char-rnn)",
    description="Trains embedding + SimpleRNN/LSTM/GRU stack + softmax on a corpus with truncated BPTT and "
                "reports the validation split's nats, bits and perplexity per token.",
    add_flags=add_flags, run=run_train, training={"batch_size": 32, "lr": 2e-3})


def register(commands, train_commands) -> None:
    from .demo import register as register_demo

    register_demo(commands)
    register_task(train_commands, TASK)
    generate_parser = register_predict(
        commands, "generate", help="generate text from a trained language model",
        description="Streams text from a language model saved by `rnnkit train lm` or `rnnkit demo`.",
        func=run_generate)
    add(generate_parser, "length", 500)
    add(generate_parser, "prime", "", help="text to continue (default: a new line)")
    add(generate_parser, "temperature", 1.0)
    add(generate_parser, "top_k")
    add(generate_parser, "top_p")
    generate_parser.add_argument("--greedy", action="store_true", help="always take the most probable token")
    add(generate_parser, "beam")
    add(generate_parser, "poems", help="write this many 8-line, 7-character poems (poems models) instead of "
                                       "--length tokens; --prime is then context that is not printed")
    add(generate_parser, "seed")
    evaluate = register_predict(commands, "evaluate", help="validation loss of a trained language model",
                                description="Prints nats, bits and perplexity per token of a text.",
                                batch_size=16, func=run_evaluate)
    evaluate.add_argument("--text", metavar="FILE", help="a text file (default: the run's validation split)")
    add(evaluate, "encoding", "utf-8")
    add(evaluate, "seq_len", 128)


# ---------------------------------------------------------------------------------------------- commands
def run_generate(args: argparse.Namespace) -> int:
    from ..tasks import poem_constraint, poem_length, poem_prime
    from .task import resolve_device

    model, vocab, _ = load_run(args.run_dir, resolve_device(args.device))
    length, allowed, prime = args.length, None, args.prime
    if args.poems is not None:                     # the prime is context only; the poems start afresh
        length, allowed, prime = args.poems * poem_length(), poem_constraint(vocab), poem_prime(args.prime)
    else:
        print(prime, end="")
    stream(generate(model, vocab, prime, length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                    greedy=args.greedy, beam=args.beam, seed=args.seed, allowed=allowed))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..data import read_text, split_corpus
    from ..tasks import perplexity_metrics
    from .task import resolve_device

    model, vocab, checkpoint = load_run(args.run_dir, resolve_device(args.device))
    metadata = checkpoint.metadata
    if args.text is not None:
        text, source = read_text(args.text, args.encoding), args.text
    else:
        if "corpus" not in metadata:
            raise CommandError(f"{args.run_dir}: the run does not record its corpus; pass --text FILE")
        text, source = split_corpus(metadata["corpus"])[1], f"the validation split of {metadata['corpus']['name']}"
    nats, tokens, unknown = validation_nats(model, vocab, text, args.batch_size, args.seq_len, source)
    metrics, unit = perplexity_metrics(nats), vocab.level
    print(f"{source}: {tokens:,} {unit}s ({unknown:,} outside the vocabulary, scored as <unk>)")
    print(f"{metrics['nats']:.4f} nats/{unit}  {metrics['bits']:.4f} bits/{unit}  perplexity {metrics['perplexity']:.3f}")
    return 0


# ---------------------------------------------------------------------------------------------- shared pieces
def build_vocabulary(text: str, level: str, max_size: int | None):
    from ..data import Vocabulary

    return Vocabulary.build(text, level, max_size=max_size)


def model_config(args: argparse.Namespace, vocab_size: int):
    """The :class:`~rnnkit.tasks.LanguageModelConfig` of the model flags."""
    from ..tasks import LanguageModelConfig

    return LanguageModelConfig(vocab_size=vocab_size, cell=args.cell, embed_size=args.embed_size,
                               hidden_size=args.hidden_size, layers=args.layers, dropout=args.dropout,
                               tie_weights=args.tie_weights, recurrent_dropout=args.recurrent_dropout,
                               zoneout=args.zoneout, cell_options={"layer_norm": True} if args.layer_norm else {},
                               weight_drop=args.weight_drop, embedding_dropout=args.embedding_dropout,
                               locked_dropout=args.locked_dropout, ar=args.ar, tar=args.tar)


def fit_language_model(run, config, vocab, corpus: dict, train_text: str, val_text: str, **train_config):
    """Builds the model and the streams, trains in ``run``, prints the validation figure.

    Returns:
        ``(model in eval mode, validation nats per token, optimizer steps)``.
    """
    from ..data import StreamBatches
    from ..tasks import LanguageModel, perplexity_metrics
    from .task import fingerprint

    args = run.args
    model = LanguageModel(config)
    train = StreamBatches(vocab.encode(train_text), args.batch_size, args.seq_len, bptt=args.bptt)
    val = validation_stream(vocab.encode(val_text), args.batch_size, args.seq_len)
    metadata = {"task": "lm", "vocabulary": vocab.to_dict(), "corpus": corpus}
    parameters = sum(p.numel() for p in model.parameters())
    print(f"training {parameters:,} parameters on {run.device}: {len(train):,} batches of "
          f"{args.batch_size}x{args.seq_len} {vocab.level}s per epoch; run dir {args.run_dir}", flush=True)
    trainer = run.fit(model, train, val, metadata, data_hash=fingerprint(train_text), keep_best=False, **train_config)
    history = trainer.history.history
    fresh = trainer.config.eval_every is not None or not history.get("val_loss")
    nats = trainer.evaluate(val)["loss"] if fresh else history["val_loss"][-1]
    metrics, unit = perplexity_metrics(nats), vocab.level
    print(f"validation after {trainer.step} steps: {metrics['nats']:.4f} nats/{unit}  {metrics['bits']:.4f} "
          f"bits/{unit}  perplexity {metrics['perplexity']:.2f}", flush=True)
    return trainer.model, nats, trainer.step


def validation_stream(ids, batch_size: int, seq_len: int):
    """The validation ids as stream batches (fewer rows when the text is short)."""
    from ..data import StreamBatches

    rows = max(1, min(batch_size, (ids.numel() - 1) // seq_len))
    return StreamBatches(ids, rows, seq_len)


def validation_nats(model, vocab, text: str, batch_size: int, seq_len: int, source: str) -> tuple[float, int, int]:
    """``(nats per token, tokens, tokens outside the vocabulary)`` of ``model`` on ``text``."""
    from ..train import TrainConfig, Trainer

    ids = vocab.encode(text)
    if ids.numel() < 2:
        raise CommandError(f"--text: {source} holds {ids.numel()} {vocab.level}s; expected at least 2")
    unknown = int((ids == vocab.unk_id).sum())
    device = next(model.parameters()).device
    trainer = Trainer(model, TrainConfig(progress=False), device=device)
    nats = trainer.evaluate(validation_stream(ids, batch_size, min(seq_len, ids.numel() - 1)))["loss"]
    return nats, ids.numel(), unknown


def load_run(run_dir: str, device):
    """``(model, vocabulary, checkpoint)`` of a language-model run directory (or checkpoint directory):
    :func:`rnnkit.tasks.lm.load_language_model`."""
    from ..tasks.lm import load_language_model

    if not Path(run_dir).is_dir():
        raise CommandError(f"RUN_DIR: expected the directory of a language-model run, got {run_dir!r} "
                           "(no such directory)")
    return load_language_model(run_dir, device)


def generate(model, vocab, prime: str, length: int, **options):
    from ..tasks import generate_text

    return generate_text(model, vocab, prime, length, **options)


def stream(pieces) -> None:
    """Prints text pieces as they come."""
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
