"""``rnnkit train chatbot`` and ``rnnkit chat``: a multi-turn chatbot, trained on dialogues, to talk to.

``rnnkit chat RUN_DIR`` runs an interactive loop on a terminal (history kept, slash commands,
Ctrl-D ends) and a pipe mode otherwise (or with ``--pipe``): one message per stdin line, one reply
per stdout line, in order, so scripts can drive it. Commands (both modes): ``/reset``,
``/temperature T``, ``/top-k K``, ``/top-p P`` (these three switch to sampling), ``/beam K`` (back to
search; 1: greedy), ``/help``. In pipe mode an empty message or a command gets an empty reply line
(a command's answer goes to stderr).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Callable, NamedTuple

from .flags import add, count, nonnegative_float, positive_float, positive_int, top_p
from .task import TrainTask, format_scores, register_predict, register_task, task_checkpoint

SPLIT_NOTE = ("The split is fixed and by dialogue: 90/5/5 % of the dialogues (train/dev/test), shuffled with seed 0 "
              "(rnnkit.data.splits).")
SCORE_KEYS = ["perplexity", "bleu2", "distinct1", "distinct2", "length"]
BEAM = 5


def add_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--pairs", help="a file of query<TAB>reply lines; consecutive pairs where a query is the "
                                      "previous reply are one dialogue")
    data.add_argument("--dialogues", help="a file of dialogues: one turn a line, a blank line between dialogues")
    add(data, "encoding", "utf-8")
    data.add_argument("--turns", type=positive_int, default=3,
                      help="turns of history the model reads, the query included (1: single-turn)")
    add(data, "min_count", 1)
    add(data, "max_vocab")
    add(data, "max_len", 50, help="replies longer than this many characters are left out; context turns keep "
                                  "their last this many")
    add(data, "limit")
    model = parser.add_argument_group("model")
    model.add_argument("--context", choices=("hred", "separator"), default="hred",
                       help="hred: an utterance encoder under a context RNN; separator: the turns joined by </s> "
                            "into one sequence")
    add(model, "cell", "gru", choices=("srn", "lstm", "gru"))
    add(model, "embed_size", 256)
    add(model, "hidden_size", 256)
    add(model, "layers", 1, help="layers of the encoders and of the decoder")
    add(model, "bidirectional", True, help="a bidirectional utterance encoder")
    add(model, "dropout", 0.2)
    model.add_argument("--anti-lm-size", type=count, default=256,
                       help="hidden units of the reply language model that --anti-lm decoding needs (0: none)")
    add_decoding_flags(parser.add_argument_group("decoding of the test replies"))


def add_decoding_flags(group) -> None:
    """The reply decoder's flags (``rnnkit train chatbot`` scores the test split with them)."""
    add(group, "beam", help="beam width when searching (default: 5; 1: greedy)")
    group.add_argument("--length-penalty", type=nonnegative_float, default=1.0,
                       help="alpha of the beam score sum(log p) / length^alpha")
    add(group, "repetition_penalty", 1.2)
    group.add_argument("--anti-lm", type=nonnegative_float, default=0.0,
                       help="MMI-antiLM weight lambda: rank by log p(reply | context) - lambda log p_LM(first "
                            "tokens) (0: off)")
    group.add_argument("--anti-lm-first", type=positive_int, default=3, help="reply tokens the anti-LM penalises")
    add(group, "temperature", help="sample replies at this temperature instead of searching (default: search)")
    add(group, "top_k", help="sample among the k most probable tokens")
    add(group, "top_p", help="sample among the most probable tokens of this total probability")


def decoding_from(args: argparse.Namespace, max_len: int):
    """The :class:`~rnnkit.tasks.chatbot.Decoding` of the flags for replies of at most ``max_len``
    characters: sampling when --temperature, --top-k or --top-p is given, else beam search (greedy
    for --beam 1)."""
    from ..tasks.chatbot import Decoding
    from .errors import CommandError

    sample = any(getattr(args, name) is not None for name in ("temperature", "top_k", "top_p"))
    if sample and args.beam is not None:
        raise CommandError("--beam: beam search and sampling (--temperature, --top-k, --top-p) exclude each other")
    return Decoding(beam_size=args.beam or BEAM, length_penalty=args.length_penalty,
                    repetition_penalty=args.repetition_penalty, anti_lm=args.anti_lm, anti_lm_first=args.anti_lm_first,
                    sample=sample, temperature=args.temperature or 1.0, top_k=args.top_k, top_p=args.top_p,
                    max_len=max_len + 1)                       # </s> included


def read_dialogue_file(args: argparse.Namespace) -> list:
    from ..data.dialogue import read_dialogues, read_pair_dialogues
    from .errors import CommandError

    if (args.pairs is None) == (args.dialogues is None):
        raise CommandError("--pairs/--dialogues: expected exactly one of them (the training conversations)")
    if args.pairs is not None:
        return read_pair_dialogues(args.pairs, args.encoding)
    return read_dialogues(args.dialogues, args.encoding)


def run_train(args: argparse.Namespace, run) -> dict:
    import math

    from ..data.dialogue import ExchangeBatches, encode_exchanges, exchanges
    from ..data.pairs import build_vocabulary
    from ..data.splits import split_items
    from ..tasks.chatbot import Chatbot, ChatbotConfig
    from ..tasks.chatting import Responder, dialogue_scores
    from .errors import CommandError
    from .task import fingerprint

    dialogues = read_dialogue_file(args)
    if len(dialogues) < 3:
        raise CommandError(f"--{'pairs' if args.pairs else 'dialogues'}: {len(dialogues)} dialogue(s); expected at "
                           "least 3 (the split into train/dev/test is by dialogue)")
    if args.anti_lm and not args.anti_lm_size:
        raise CommandError("--anti-lm: needs the reply language model; give --anti-lm-size > 0")
    decoding = decoding_from(args, args.max_len)
    parts = split_items(dialogues, seed=0, dev=0.05, test=0.05)
    train, dev, test = (exchanges(part, args.turns)[:args.limit] if args.limit else exchanges(part, args.turns)
                        for part in parts)
    vocab = build_vocabulary([turn for dialogue in parts[0] for turn in dialogue], "char", args.min_count,
                             args.max_vocab)
    examples = encode_exchanges(train, vocab, args.max_len)
    if not examples:
        raise CommandError(f"--max-len: no training reply has at most {args.max_len} characters")
    config = ChatbotConfig(len(vocab), len(vocab), cell=args.cell, embed_size=args.embed_size,
                           hidden_size=args.hidden_size, encoder_layers=args.layers, decoder_layers=args.layers,
                           bidirectional=args.bidirectional, dropout=args.dropout, context=args.context,
                           anti_lm_size=args.anti_lm_size)
    print(f"{len(dialogues)} dialogues; {len(examples)} training exchanges ({len(train) - len(examples)} with a reply "
          f"longer than {args.max_len} left out), {len(dev)} dev, {len(test)} test; {len(vocab)} characters; "
          f"context: {args.context}, last {args.turns} turn(s)", file=sys.stderr)
    metadata = {"task": "chatbot", "vocab": vocab.to_dict(), "turns": args.turns, "max_len": args.max_len,
                "data": {"file": str(args.pairs or args.dialogues), "format": "pairs" if args.pairs else "dialogues"}}
    hierarchical = args.context == "hred"

    def batches(items, shuffle):
        return ExchangeBatches(encode_exchanges(items, vocab), args.batch_size, shuffle, hierarchical=hierarchical)

    trainer = run.fit(Chatbot(config), ExchangeBatches(examples, args.batch_size, hierarchical=hierarchical),
                      batches(dev, False), metadata, data_hash=fingerprint(parts[0]))
    responder = Responder(trainer.model, vocab, args.turns, args.max_len)
    replies = responder.replies([x.context for x in test], decoding, batch_size=args.batch_size)
    scores = dialogue_scores(replies, [x.reply for x in test])
    scores.update(perplexity=math.exp(trainer.evaluate(batches(test, False))["loss"]),
                  decoding=decoding.describe(), test_exchanges=len(test), steps=trainer.step)
    print(f"test ({len(test)} exchanges, {decoding.describe()}): {format_scores(scores, SCORE_KEYS)}")
    for exchange, reply in list(zip(test, replies))[:3]:
        print(f"  {' / '.join(exchange.context)}\n    -> {reply}\n    human: {exchange.reply}")
    print(f"saved in {args.run_dir}; talk to it with: rnnkit chat {args.run_dir}")
    return scores


TASK = TrainTask(
    "chatbot", help="train a multi-turn chatbot (HRED or separator context, attention) on dialogues",
    description="Trains an encoder-decoder with attention that replies to the last --turns turns of a conversation, "
                "read by a hierarchical encoder (an utterance RNN under a context RNN, HRED) or as one sequence with "
                "</s> between turns, and a reply language model for MMI-antiLM decoding; keeps the model with the "
                "best dev loss and scores its replies to the test split (perplexity, BLEU-2 by characters, "
                "distinct-1/2, length; needs sacrebleu). Conversations are read by characters. " + SPLIT_NOTE,
    add_flags=add_flags, run=run_train, training={"epochs": 10, "batch_size": 64, "lr": 2e-3, "patience": 3})


def register(commands, train_commands) -> None:
    register_task(train_commands, TASK)
    chat = register_predict(
        commands, "chat", help="talk to a model of `rnnkit train chatbot`",
        description="On a terminal: an interactive conversation (history kept; /reset, /temperature T, /top-k K, "
                    "/top-p P, /beam K, /help; Ctrl-D ends). Otherwise (or with --pipe): one message per stdin line, "
                    "one reply per stdout line; /reset and the other commands work there too.",
        func=run_chat)
    add_decoding_flags(chat)
    add(chat, "max_len", 40, help="at most this many characters per reply")
    add(chat, "seed", 0)
    chat.add_argument("--pipe", action="store_true", help="pipe mode even when stdin is a terminal")


class Answer(NamedTuple):
    """What a line of input gives: the reply (None for a command or an empty message) and a note for
    the person (a command's answer, or None)."""

    reply: str | None
    note: str | None = None


class ChatSession:
    """One conversation with a :class:`~rnnkit.tasks.chatting.Responder`: the history, the decoding
    options and the slash commands (module docstring).

    Arguments:
        responder: the model.  decoding: the initial options.  generator: the random source of sampling.
    """

    def __init__(self, responder, decoding, generator=None):
        self.responder, self.decoding, self.generator = responder, decoding, generator
        self.history: list[str] = []
        sampling = {"sample": True}
        self.commands: dict[str, tuple[Callable[[str], Any], str, dict]] = {
            "/temperature": (positive_float, "temperature", sampling),
            "/top-k": (positive_int, "top_k", sampling),
            "/top-p": (top_p, "top_p", sampling),
            "/beam": (positive_int, "beam_size", {"sample": False}),
        }

    def help(self) -> str:
        return (f"now: {self.decoding.describe()}; commands: /reset (forget the conversation), /temperature T, "
                "/top-k K, /top-p P (sample), /beam K (search; 1: greedy), /help; Ctrl-D ends")

    def handle(self, line: str) -> Answer:
        """Answers one line of input: a command, or a message (the reply joins the history)."""
        from ..data.dialogue import clean_turn

        message = clean_turn(line)
        if message.startswith("/"):
            return Answer(None, self._command(message))
        if not message:
            return Answer(None)
        context = [*self.history, message]
        reply = self.responder.replies([context], self.decoding, generator=self.generator)[0]
        self.history = [*context, reply][-2 * self.responder.turns:]
        return Answer(reply)

    def _command(self, text: str) -> str:
        name, _, value = text.partition(" ")
        if name == "/reset":
            self.history = []
            return "history cleared"
        if name == "/help":
            return self.help()
        if name not in self.commands:
            return f"{name}: unknown command; /help lists them"
        convert, field, extra = self.commands[name]
        try:
            self.decoding = dataclasses.replace(self.decoding, **{field: convert(value.strip()), **extra})
        except (argparse.ArgumentTypeError, ValueError) as err:
            return f"{name}: {err}"
        return f"now: {self.decoding.describe()}"


def run_chat(args: argparse.Namespace) -> int:
    import torch

    from ..tasks.chatting import Responder
    from .task import resolve_device

    responder = Responder.from_checkpoint(task_checkpoint(args.run_dir, "chatbot"), device=resolve_device(args.device))
    session = ChatSession(responder, decoding_from(args, args.max_len), torch.Generator().manual_seed(args.seed))
    if args.pipe or not sys.stdin.isatty():
        return pipe(session)
    return interactive(session, args.run_dir)


def pipe(session: ChatSession) -> int:
    """One reply line per stdin line (undecodable bytes read as U+FFFD), flushed as it comes."""
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")
    for line in sys.stdin:
        answer = session.handle(line.rstrip("\n"))
        print(answer.reply or "", flush=True)
        if answer.note:
            print(answer.note, file=sys.stderr, flush=True)
    return 0


def interactive(session: ChatSession, run_dir: str) -> int:
    """The terminal loop: a prompt, the reply (or a command's answer) below it; Ctrl-D ends."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    model = session.responder
    print(f"chatting with {run_dir} ({model.model.config.context} context, last {model.turns} turns); "
          f"{session.help()}")
    while True:
        try:
            line = input("you> ")
        except EOFError:
            print()
            return 0
        answer = session.handle(line)
        if answer.note:
            print(answer.note)
        elif answer.reply is not None:
            print(f"bot> {answer.reply}")
