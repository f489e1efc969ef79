"""``rnnkit train chatbot`` and ``rnnkit chat`` end to end on a few dozen dialogues written here."""
import io
import json
import random
import sys

import pytest
import torch

from rnnkit.cli.chatbot import ChatSession, interactive
from rnnkit.cli.main import main
from rnnkit.tasks.chatbot import Decoding
from rnnkit.tasks.chatting import Responder

GREETINGS = ["你好", "早上好", "晚上好", "嗨"]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    """40 four-turn dialogues as consecutive query<TAB>reply pairs (KdConv's layout)."""
    rng = random.Random(0)
    lines = []
    for _ in range(40):
        greeting, count = rng.choice(GREETINGS), rng.randint(1, 9)
        lines += [f"{greeting}\t{greeting}！", f"{greeting}！\t你有几个苹果？", f"你有几个苹果？\t我有{count}个"]
    path = tmp_path_factory.mktemp("chat") / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(pairs_file, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("run") / "chat"
        code = main(["train", "chatbot", "--pairs", str(pairs_file), "--context", "hred", "--turns", "2",
                     "--hidden-size", "16", "--embed-size", "8", "--anti-lm-size", "8", "--epochs", "4",
                     "--lr", "1e-2", "--batch-size", "16", "--beam", "2", "--run-dir", str(path), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return path


def chat(run_dir, monkeypatch, capsys, data: bytes, *flags):
    """``rnnkit chat RUN_DIR`` in pipe mode on ``data``; returns (exit code, stdout lines, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(["chat", str(run_dir), "--threads", "1", *flags])
    captured = capsys.readouterr()
    return code, captured.out.split("\n")[:-1], captured.err


def test_training_writes_the_scores_and_what_chat_needs(run_dir):
    scores = json.loads((run_dir / "test_scores.json").read_text(encoding="utf-8"))
    assert {"perplexity", "bleu2", "distinct1", "distinct2", "length"} <= scores.keys()
    assert scores["decoding"].startswith("beam 2") and scores["test_exchanges"] == 6      # 2 test dialogues of 4 turns
    state = json.loads(next((run_dir / "best" / "checkpoints").glob("ckpt-*/state.json")).read_text(encoding="utf-8"))
    assert state["metadata"]["task"] == "chatbot" and state["metadata"]["turns"] == 2
    assert "苹" in state["metadata"]["vocab"]["tokens"] and state["config"]["context"] == "hred"


def test_pipe_mode_gives_one_reply_line_per_input_line(run_dir, monkeypatch, capsys):
    lines = ["你好", "", "你有几个苹果？", "/reset", "\x00\x1b[31m晚上好\x07", "长" * 5000, "/temperature 0.7",
             "\u2603 ☃ unknown ünïcödé", "/top-p 2", "/nonsense", "/beam 3", "   "]
    data = ("\n".join(lines) + "\n").encode("utf-8") + b"\xff\xfe\xfd broken bytes\n"
    code, out, err = chat(run_dir, monkeypatch, capsys, data)
    assert code == 0 and len(out) == len(lines) + 1 and "Traceback" not in err
    replies = {i for i, line in enumerate(lines + ["bytes"]) if line.strip() and not line.startswith("/")}
    assert all(out[i] for i in replies)                             # every message is answered
    assert all(out[i] == "" for i in range(len(out)) if i not in replies)
    assert "history cleared" in err and "now: sampling (T 0.7" in err
    assert "/top-p: expected a probability in (0, 1], got '2'" in err and "/nonsense: unknown command" in err


def test_reset_starts_the_conversation_again(run_dir, monkeypatch, capsys):
    code, out, _ = chat(run_dir, monkeypatch, capsys, "嗨\n你有几个苹果？\n/reset\n嗨\n".encode(), "--beam", "1")
    assert code == 0 and out[3] == out[0]                           # greedy: the same context, the same reply


def test_the_session_keeps_the_last_turns_and_switches_decoders(run_dir):
    responder = Responder.from_checkpoint(run_dir / "best")
    session = ChatSession(responder, Decoding(max_len=10), torch.Generator().manual_seed(0))
    for message in ["你好", "你好！", "我有3个"]:
        assert session.handle(message).reply is not None
    assert len(session.history) == 2 * responder.turns and session.history[-2] == "我有3个"
    assert session.handle("/top-k 3").note.startswith("now: sampling (T 1, top-k 3")
    assert session.handle("/beam 4").note.startswith("now: beam 4")
    assert session.handle("/beam 0").note == "/beam: expected a positive integer, got '0'"
    assert session.handle("/reset").note == "history cleared" and session.history == []


def test_the_terminal_loop_ends_on_ctrl_d(run_dir, monkeypatch, capsys):
    typed = iter(["你好", "/beam 2", "", "/help"])

    def fake_input(prompt):
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    session = ChatSession(Responder.from_checkpoint(run_dir / "best"), Decoding(max_len=10))
    assert interactive(session, str(run_dir)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"chatting with {run_dir} (hred context, last 2 turns)")
    assert out[1].startswith("bot> ") and out[2].startswith("now: beam 2") and "/reset" in out[3]


@pytest.mark.parametrize("argv, message", [
    (["--beam", "3", "--temperature", "0.5"], "--beam: beam search and sampling"),
    (["--repetition-penalty", "0.5"], "--repetition-penalty: expected a finite number >= 1"),
])
def test_bad_chat_flags_are_one_line(run_dir, monkeypatch, capsys, argv, message):
    code, _, err = chat(run_dir, monkeypatch, capsys, b"hi\n", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_chat_refuses_a_run_of_another_task(tmp_path, capsys):
    assert main(["chat", str(tmp_path / "missing")]) == 2
    assert "RUN_DIR: expected the directory of a training run" in capsys.readouterr().err


def test_bad_training_files_stop_with_one_line(pairs_file, tmp_path, capsys):
    lonely = tmp_path / "dialogues.txt"
    lonely.write_text("你好\n你好啊\n\n独白\n", encoding="utf-8")
    for argv, message in [([], "--pairs/--dialogues: expected exactly one of them"),
                          (["--pairs", str(pairs_file), "--dialogues", str(lonely)], "expected exactly one"),
                          (["--dialogues", str(lonely)], "dialogues.txt, line 4: a dialogue of one turn"),
                          (["--pairs", str(tmp_path / "none.tsv")], "none.tsv: no such file")]:
        assert main(["train", "chatbot", *argv, "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
