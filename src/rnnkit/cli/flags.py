"""The one flag builder of the ``rnnkit`` command: every shared concept has one name, one unit, one type.

A command adds a flag by its destination name, ``add(group, "hidden_size", default=256)``; the
catalogue below gives the option string, the value type (which validates the value before any
work starts) and the help text, and the default is appended to the help. The training flags
reach every field of :class:`rnnkit.train.TrainConfig` (:func:`add_training_flags`,
:func:`train_config`). This module imports no torch, so ``rnnkit --help`` is fast.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Callable

# Names the library defines too; a test checks they agree (importing them here would import torch).
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "nt-asgd")
SCHEDULES = ("constant", "step", "cosine", "plateau")
PRECISIONS = ("fp32", "bf16", "fp16")
SEED_LIMIT = 2 ** 32                      # numpy's legacy seeding takes seeds below 2**32


# ---------------------------------------------------------------------------------------------- value types
def _typed(check: Callable[[str], Any], expected: str) -> Callable[[str], Any]:
    """An argparse ``type`` that converts with ``check`` and explains failures as 'expected ..., got ...'."""

    def convert(text: str) -> Any:
        try:
            value = check(text)
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    convert.__name__ = expected
    return convert


def _int_at_least(minimum: int, limit: int | None = None):
    def check(text: str):
        value = int(text)
        return value if value >= minimum and (limit is None or value < limit) else None
    return check


def _float_in(low: float, high: float, low_open: bool, high_open: bool):
    def check(text: str):
        value = float(text)
        if not math.isfinite(value) or value < low or value > high:
            return None
        if (low_open and value == low) or (high_open and value == high):
            return None
        return value
    return check


def _optional(check: Callable[[str], Any]):
    """``none`` / ``off`` switch the option off (None); anything else goes through ``check``."""
    def convert(text: str):
        return "off" if text.strip().lower() in ("none", "off") else check(text)
    return convert


positive_int = _typed(_int_at_least(1), "a positive integer")
count = _typed(_int_at_least(0), "an integer >= 0")
seed = _typed(_int_at_least(0, SEED_LIMIT), "an integer in [0, 2**32)")
positive_float = _typed(_float_in(0.0, math.inf, True, True), "a finite positive number")
nonnegative_float = _typed(_float_in(0.0, math.inf, False, True), "a finite number >= 0")
rate = _typed(_float_in(0.0, 1.0, False, True), "a rate in [0, 1)")
fraction = _typed(_float_in(0.0, 1.0, True, True), "a fraction in (0, 1)")
probability = _typed(_float_in(0.0, 1.0, False, False), "a probability in [0, 1]")
top_p = _typed(_float_in(0.0, 1.0, True, False), "a probability in (0, 1]")
at_least_one = _typed(_float_in(1.0, math.inf, False, True), "a finite number >= 1")
threshold = _typed(_optional(_float_in(0.0, math.inf, True, True)), "a finite positive number or 'none'")
optional_positive_int = _typed(_optional(_int_at_least(1)), "a positive integer or 'none'")


def _encoding(text: str) -> str | None:
    """A standard text encoding (checked like rnnkit.data.textfile.check_encoding, without importing it)."""
    import encodings

    info = encodings.search_function(text.lower())
    return text if info is not None and info._is_text_encoding else None


encoding = _typed(_encoding, "one of Python's standard text encodings (utf-8, gb18030, big5, latin-1, ...)")


def _device(text: str) -> str | None:
    kind, _, index = text.partition(":")
    return text if kind in ("cpu", "cuda", "mps") and (not index or index.isdigit()) else None


device = _typed(_device, "cpu, cuda, cuda:N or mps")
port = _typed(_int_at_least(0, 65536), "a port number in [0, 65535] (0: a free one)")


# ---------------------------------------------------------------------------------------------- the catalogue
CATALOGUE: dict[str, tuple[str, dict[str, Any]]] = {
    # run
    "run_dir": ("--run-dir", {"metavar": "DIR", "help": "where checkpoints, logs, the resolved config and scores go"}),
    "resume": ("--resume", {"action": "store_true",
                            "help": "continue the run in --run-dir; its saved options are the defaults, model and "
                                    "data options cannot change, training options can"}),
    "overwrite": ("--overwrite", {"action": "store_true",
                                  "help": "replace the run in --run-dir (deletes only the files rnnkit wrote there)"}),
    "reset_optimizer": ("--reset-optimizer", {"action": "store_true",
                                              "help": "with --resume: start a fresh optimizer (e.g. when its "
                                                      "checkpoint file is lost)"}),
    "config": ("--config", {"metavar": "FILE.toml",
                            "help": "read options from a TOML file (keys: the flags' names with underscores, "
                                    "e.g. hidden_size = 256); flags on the command line override it"}),
    "device": ("--device", {"type": device, "help": "cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)"}),
    "threads": ("--threads", {"type": positive_int,
                              "help": "intra-op CPU threads (default: 1 on machines with up to 2 cores, else "
                                      "half the cores: a busy machine does not collapse the run)"}),
    "seed": ("--seed", {"type": seed, "help": "seeds the model, the batch order and sampling"}),
    "quiet": ("--quiet", {"action": "store_true", "help": "no progress bar or progress lines"}),
    "batch_size": ("--batch-size", {"type": positive_int, "help": "examples per batch"}),
    # data
    "corpus": ("--corpus", {"help": "a packaged corpus name or a file"}),
    "data": ("--data", {"metavar": "DIR_OR_MANIFEST",
                        "help": "a folder of LABEL_*.wav recordings, or a TSV manifest of path<TAB>transcript lines"}),
    "encoding": ("--encoding", {"type": encoding, "help": "text encoding of a user file"}),
    "level": ("--level", {"choices": ("char", "word"), "help": "tokens: characters or whitespace-separated words"}),
    "limit": ("--limit", {"type": positive_int, "help": "use only the first N examples of each split (quick runs)"}),
    "max_len": ("--max-len", {"type": positive_int, "help": "at most this many tokens per example"}),
    "min_count": ("--min-count", {"type": positive_int, "help": "rarer tokens read as <unk>"}),
    "max_vocab": ("--max-vocab", {"type": positive_int, "help": "keep the most frequent tokens (the rest: <unk>)"}),
    "val_fraction": ("--val-fraction", {"type": fraction, "help": "share of the text held out for validation"}),
    "seq_len": ("--seq-len", {"type": positive_int, "help": "tokens per window (truncated BPTT: k1, steps per batch)"}),
    "bptt": ("--bptt", {"type": positive_int, "help": "steps backpropagated, k2 >= --seq-len (default: k1)"}),
    # model
    "cell": ("--cell", {"help": "the recurrent cell"}),
    "layers": ("--layers", {"type": positive_int, "help": "stacked recurrent layers"}),
    "hidden_size": ("--hidden-size", {"type": positive_int, "help": "hidden units per layer and direction"}),
    "embed_size": ("--embed-size", {"type": positive_int, "help": "embedding size"}),
    "dropout": ("--dropout", {"type": rate, "help": "dropout rate between layers (training only)"}),
    "recurrent_dropout": ("--recurrent-dropout", {"type": rate,
                                                  "help": "variational dropout on h_{t-1}, one mask per sequence"}),
    "zoneout": ("--zoneout", {"type": rate, "help": "zoneout rate on the recurrent state"}),
    "weight_drop": ("--weight-drop", {"type": rate, "help": "DropConnect rate on the recurrent weights W_hh "
                                                            "(one mask per forward call)"}),
    "embedding_dropout": ("--embedding-dropout", {"type": rate,
                                                  "help": "rate of dropping whole embedding rows (every occurrence "
                                                          "of a token together)"}),
    "label_smoothing": ("--label-smoothing", {"type": rate,
                                              "help": "training targets (1 - e) one-hot + e / V (the dev loss "
                                                      "stays the plain NLL)"}),
    "locked_dropout": ("--locked-dropout", {"action": "store_true",
                                            "help": "--dropout draws one mask per sequence, the same at every step"}),
    "ar": ("--ar", {"type": nonnegative_float, "help": "activation regularisation: alpha * mean(h_t^2) of the "
                                                       "last layer's dropped outputs, added to the training loss"}),
    "tar": ("--tar", {"type": nonnegative_float, "help": "temporal activation regularisation: beta * "
                                                         "mean((h_t - h_{t-1})^2) of the last layer's outputs"}),
    "layer_norm": ("--layer-norm", {"action": "store_true", "help": "layer-normalised LSTM / GRU cells"}),
    "bidirectional": ("--bidirectional", {"action": argparse.BooleanOptionalAction,
                                          "help": "a bidirectional recurrent encoder"}),
    "bigrams": ("--bigrams", {"action": argparse.BooleanOptionalAction, "help": "left/right bigram embeddings"}),
    "bigram_embed_size": ("--bigram-embed-size", {"type": positive_int, "help": "bigram embedding size"}),
    "bigram_min_count": ("--bigram-min-count", {"type": positive_int, "help": "rarer bigrams read as <unk>"}),
    "lexicon_max_len": ("--lexicon-max-len", {"type": _typed(_int_at_least(2), "an integer >= 2"),
                                              "help": "longest dictionary word matched (characters)"}),
    "lexicon_embed_size": ("--lexicon-embed-size", {"type": positive_int,
                                                    "help": "embedding size of the dictionary match patterns"}),
    "tie_weights": ("--tie-weights", {"action": "store_true",
                                      "help": "share the embedding with the output layer (needs embed = hidden size)"}),
    # training: every TrainConfig field
    "epochs": ("--epochs", {"type": positive_int, "help": "passes over the training data"}),
    "optimizer": ("--optimizer", {"choices": OPTIMIZERS, "help": "the optimizer"}),
    "lr": ("--lr", {"type": positive_float, "help": "learning rate"}),
    "weight_decay": ("--weight-decay", {"type": nonnegative_float, "help": "L2 weight decay (decoupled for adamw)"}),
    "momentum": ("--momentum", {"type": nonnegative_float, "help": "momentum of sgd / rmsprop"}),
    "nt_asgd_patience": ("--nt-asgd-patience", {"type": count,
                                                "help": "nt-asgd: average the iterates once a validation is worse "
                                                        "than the best of those more than this many before"}),
    "schedule": ("--schedule", {"choices": SCHEDULES, "help": "learning-rate schedule"}),
    "warmup_steps": ("--warmup-steps", {"type": count, "help": "optimizer steps of linear warm-up"}),
    "step_size": ("--step-size", {"type": positive_int, "help": "'step' schedule: steps between lr cuts"}),
    "gamma": ("--gamma", {"type": positive_float, "help": "'step' / 'plateau' schedules: factor of each lr cut"}),
    "plateau_patience": ("--plateau-patience", {"type": count,
                                                "help": "'plateau' schedule: validations without progress before a cut"}),
    "clip_norm": ("--clip-norm", {"type": threshold, "help": "clip the global gradient norm ('none': off)"}),
    "clip_value": ("--clip-value", {"type": threshold, "help": "clip every gradient element ('none': off)"}),
    "accumulate": ("--accumulate", {"type": positive_int, "help": "batches of gradients summed per optimizer step"}),
    "max_steps": ("--max-steps", {"type": positive_int, "help": "stop after this many optimizer steps"}),
    "minutes": ("--minutes", {"type": positive_float, "help": "stop after this many minutes of training"}),
    "eval_every": ("--eval-every", {"type": positive_int,
                                    "help": "optimizer steps between validations (default: at each epoch end)"}),
    "select": ("--select", {"choices": ("loss", "accuracy"),
                            "help": "keep the model of the best dev loss or of the best dev accuracy (the model's "
                                    "own validation metric: label accuracy, tag accuracy); --patience watches the "
                                    "same"}),
    "patience": ("--patience", {"type": optional_positive_int,
                                "help": "early stopping: validations without a better dev loss (or dev accuracy "
                                        "with --select accuracy; 'none': off)"}),
    "precision": ("--precision", {"choices": PRECISIONS,
                                  "help": "fp32; bf16 autocast (a CPU without native bf16 runs the fused recurrent "
                                          "ops in fp32, the rest in bf16); fp16 (CUDA)"}),
    "log_every": ("--log-every", {"type": positive_int,
                                  "help": "optimizer steps between log rows (default: about 50 rows per run, "
                                          "plus one per epoch)"}),
    "compile": ("--compile", {"action": "store_true", "help": "train through torch.compile (its defaults)"}),
    "checkpoint_every": ("--checkpoint-every", {"type": positive_int,
                                                "help": "optimizer steps between checkpoints (default: at each "
                                                        "validation and epoch end)"}),
    # generation
    "temperature": ("--temperature", {"type": positive_float, "help": "sampling temperature"}),
    "top_k": ("--top-k", {"type": positive_int, "help": "sample among the k most probable tokens"}),
    "top_p": ("--top-p", {"type": top_p, "help": "sample among the most probable tokens of this total probability"}),
    "beam": ("--beam", {"type": positive_int, "help": "beam width (1: greedy)"}),
    "repetition_penalty": ("--repetition-penalty", {"type": at_least_one,
                                                  "help": "a token already generated scores theta * log p "
                                                          "(theta >= 1; 1: off)"}),
    "length": ("--length", {"type": positive_int, "help": "tokens to generate"}),
    "prime": ("--prime", {"help": "text to continue"}),
    "poems": ("--poems", {"type": positive_int, "help": "poems to write (8 lines of 7 characters each)"}),
    # serving
    "host": ("--host", {"help": "the address to listen on (127.0.0.1: this machine only; 0.0.0.0: every network)"}),
    "port": ("--port", {"type": port, "help": "the port to listen on (0: a free one)"}),
}

RUN_FLAGS = ("run_dir", "resume", "overwrite", "reset_optimizer", "config", "device", "threads", "quiet")
TRAINING_FLAGS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum", "nt_asgd_patience",
                  "schedule", "warmup_steps", "step_size", "gamma", "plateau_patience", "clip_norm", "clip_value",
                  "accumulate", "max_steps", "minutes", "eval_every", "patience", "precision", "log_every",
                  "checkpoint_every", "compile")
TRAINING_DEFAULTS = {"epochs": 1, "batch_size": 32, "optimizer": "adam", "lr": 2e-3, "weight_decay": 0.0,
                     "momentum": 0.9, "nt_asgd_patience": 5, "schedule": "constant", "warmup_steps": 0,
                     "step_size": 1000, "gamma": 0.5, "plateau_patience": 2, "clip_norm": 5.0, "clip_value": None,
                     "accumulate": 1, "max_steps": None, "minutes": None, "eval_every": None, "patience": None,
                     "precision": "fp32", "log_every": None, "checkpoint_every": None, "compile": False}


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option that has a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not False and \
            action.default is not argparse.SUPPRESS and "default" not in text
        if shown and action.option_strings and action.nargs != 0:
            text += " (default: %(default)s)"
        return text


def add(parser, dest: str, default: Any = None, **overrides: Any) -> argparse.Action:
    """Adds the catalogue's flag ``dest`` to ``parser`` (a parser or argument group).

    Arguments:
        default: the command's default (shown in the help).
        **overrides: argparse keywords that replace the catalogue's (``choices``, ``help``); ``required=True``
            is checked once ``--config`` and ``--resume`` have filled in what the command line left out.
    """
    option, spec = CATALOGUE[dest]
    kwargs = {**spec, **overrides, "dest": dest}
    if kwargs.get("action") not in ("store_true",):
        kwargs["default"] = default
    required = kwargs.pop("required", False)
    action = parser.add_argument(option, **kwargs)
    return require(action) if required else action


def require(action: argparse.Action) -> argparse.Action:
    """Marks a flag as required; :func:`rnnkit.cli.config.resolve` checks it once ``--config`` and
    ``--resume`` have filled in what the command line left out (argparse's own ``required`` would
    refuse ``rnnkit train lm --resume`` without the flags the run saved)."""
    action.required_after_config = True
    action.help = f"{action.help} (required)"
    return action


def add_run_flags(parser: argparse.ArgumentParser, run_dir: str | None, *, resumable: bool = True) -> None:
    """``--run-dir``, ``--resume``, ``--overwrite``, ``--reset-optimizer``, ``--config``, ``--device``,
    ``--threads``, ``--seed``, ``--quiet``."""
    group = parser.add_argument_group("run")
    add(group, "run_dir", run_dir)
    if resumable:
        add(group, "resume")
        add(group, "reset_optimizer")
    add(group, "overwrite")
    add(group, "config")
    add(group, "device")
    add(group, "threads")
    add(group, "seed", 0)
    add(group, "quiet")


def add_inference_flags(parser: argparse.ArgumentParser, batch_size: int | None = None) -> None:
    """``--device``, ``--threads`` (and ``--batch-size`` when given a default) of a command that runs a
    trained model."""
    add(parser, "device")
    add(parser, "threads")
    if batch_size is not None:
        add(parser, "batch_size", batch_size)


def add_training_flags(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    """Every :class:`~rnnkit.train.TrainConfig` field as a flag; ``defaults`` overrides :data:`TRAINING_DEFAULTS`."""
    unknown = set(defaults) - set(TRAINING_DEFAULTS)
    if unknown:
        raise ValueError(f"defaults: not training flags: {sorted(unknown)}")
    group = parser.add_argument_group("training")
    for dest in TRAINING_FLAGS:
        add(group, dest, {**TRAINING_DEFAULTS, **defaults}[dest])


def train_config(args: argparse.Namespace, **fixed: Any):
    """The :class:`~rnnkit.train.TrainConfig` of the training flags (``fixed`` sets fields the flags do not)."""
    from ..train import TrainConfig

    def off(value):
        return None if value == "off" else value

    values = {dest: getattr(args, dest) for dest in TRAINING_FLAGS if dest not in ("batch_size", "minutes", "patience")}
    values.update(clip_norm=off(args.clip_norm), clip_value=off(args.clip_value),
                  early_stopping_patience=off(args.patience),
                  max_time=None if args.minutes is None else 60.0 * args.minutes,
                  seed=args.seed, progress=not args.quiet)
    if values["log_every"] is None:                    # TrainConfig's own default: scaled to the run
        del values["log_every"]
    return TrainConfig(**{**values, **fixed})
