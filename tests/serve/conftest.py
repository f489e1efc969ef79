"""The lab's fixtures: one tiny language-model run for the whole session, a live server in a thread."""
import contextlib
import json
import random
import socket
import threading
import time

import pytest

from rnnkit.cli.main import main

NAMES = ["Anna", "Bo", "Li", "Mia"]
WORDS = ["hello", "bye", "yes", "no", "soon", "later"]


def english_text(lines: int = 400) -> str:
    """Lines with quotes, brackets and varied lengths: features a unit can track."""
    rng = random.Random(0)
    rows = []
    for _ in range(lines):
        said = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        rows.append(f'{rng.choice(NAMES)} said "{said}" ({rng.randint(1, 9)} times).')
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="session")
def lm_run(tmp_path_factory):
    """A 2-layer LSTM language model trained for a few seconds on :func:`english_text`."""
    root = tmp_path_factory.mktemp("lab")
    corpus = root / "said.txt"
    corpus.write_text(english_text(), encoding="utf-8")
    run = root / "said"
    assert main(["train", "lm", "--corpus", str(corpus), "--layers", "2", "--hidden-size", "16", "--embed-size", "8",
                 "--seq-len", "32", "--batch-size", "8", "--lr", "1e-2", "--max-steps", "60", "--sample-length", "0",
                 "--threads", "1", "--quiet", "--run-dir", str(run)]) == 0
    return run


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every lab test on one intra-op thread (tests/conftest.py)."""


@pytest.fixture
def serving():
    """``with serving(app) as url``: the app live on a loopback port (:func:`live`)."""
    return live


@pytest.fixture
def sse():
    """Parses a server-sent-event stream (:func:`events`)."""
    return events


@contextlib.contextmanager
def live(app):
    """Runs ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def events(lines) -> list[dict]:
    """The JSON objects of a server-sent-event stream's ``data:`` lines."""
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
