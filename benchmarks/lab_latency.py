"""Latency of the lab (``rnnkit serve``) as a browser sees it: time to the first written character and
characters per second streamed with activations, over HTTP from a live server on loopback.

The server is a real ``rnnkit serve RUN --threads 1`` process (default RUN: the model ``rnnkit demo``
shows, 2 x 256 LSTM, 2,000 characters, shipped in ``src/rnnkit/tasks/pretrained/poems``). Each
generation is one ``POST /api/runs/RUN/generate`` (a prime, ``--length`` characters, temperature 0.8,
coloured by one unit of the cell state c); its answer is a server-sent-event stream: the prime's
pieces, then one event per written character with its activation and top-5 next characters.

* first character: from sending the request to receiving the first written character's event;
* characters/s: written characters over the time from the first written one to the last;
* server CPU per character: the server process's CPU time (``/proc/PID/stat``, user + system) over a
  generation divided by its characters. On a busy machine the wall-clock figures measure the load as
  much as the lab; this one does not, and its inverse is the rate one idle core would stream at.

Also timed, once each: reading ``--length`` characters back in another unit's colours (``read``), the
first unit ranking on the validation text (``units``, then cached), the gradient map of the text's last
``Limits.max_gradient_tokens`` characters (``gradients``). Not a test: run it by hand, e.g.::

    python benchmarks/lab_latency.py --requests 10 --length 500

and copy the printed table into BENCHMARKS.md (section "Lab").
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rnnkit.serve import Limits

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "rnnkit" / "tasks" / "pretrained" / "poems"
PRIME = "春風"


def start_server(run: Path) -> tuple[subprocess.Popen, int, str]:
    """``(process, port, run id)`` of a live ``rnnkit serve RUN --port 0 --threads 1``."""
    server = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(run), "--port", "0", "--threads", "1"],
                              stdout=subprocess.PIPE, text=True)
    run_line, address_line = server.stdout.readline(), server.stdout.readline()
    address = re.search(r"http://127\.0\.0\.1:(\d+)/", address_line)
    if address is None:
        server.kill()
        raise SystemExit(f"rnnkit serve did not start: {run_line!r} {address_line!r}")
    return server, int(address[1]), run_line.split(":")[0].strip()


def post(port: int, path: str, body: dict) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return connection.getresponse(), connection


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_generation(port: int, run_id: str, length: int, seed: int) -> tuple[float, float, str]:
    """``(seconds to the first written character, written characters per second, the text)``."""
    started = time.perf_counter()
    response, connection = post(port, f"/api/runs/{run_id}/generate",
                                {"prime": PRIME, "length": length, "temperature": 0.8, "seed": seed, "gate": "c",
                                 "unit": 0})
    first = last = None
    pieces, written = [], 0
    for raw in response:
        if not raw.startswith(b"data: "):
            continue
        event = json.loads(raw[6:])
        if event["kind"] != "pieces":
            continue
        pieces += event["pieces"]
        if event["generated"][0]:
            last = time.perf_counter()
            first = first or last
            written += len(event["pieces"])
    connection.close()
    return first - started, (written - 1) / (last - first), "".join(pieces)


def timed(port: int, path: str, body: dict) -> float:
    started = time.perf_counter()
    response, connection = post(port, path, body)
    response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=SHIPPED, help="the run to serve (default: the shipped demo model)")
    parser.add_argument("--requests", type=int, default=10, help="timed generations (after one untimed)")
    parser.add_argument("--length", type=int, default=500, help="characters per generation")
    args = parser.parse_args()
    before = os.getloadavg()
    server, port, run_id = start_server(args.run)
    try:
        timed_generation(port, run_id, 20, 0)                                     # warm-up
        firsts, rates, cpu, text = [], [], [], ""
        for seed in range(1, args.requests + 1):
            before_cpu = cpu_seconds(server.pid)
            first, rate, text = timed_generation(port, run_id, args.length, seed)
            cpu.append((cpu_seconds(server.pid) - before_cpu) / args.length)
            firsts.append(first)
            rates.append(rate)
        recolour = timed(port, f"/api/runs/{run_id}/read", {"text": text, "gate": "c", "unit": 1})
        units = timed(port, f"/api/runs/{run_id}/units", {"layer": 0, "gate": "c"})
        gradients = timed(port, f"/api/runs/{run_id}/gradients", {"text": text, "layer": 0})
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    after = os.getloadavg()
    ms = [1000 * f for f in firsts]
    print(f"run {args.run}, {args.requests} generations of {args.length} characters, 1 intra-op thread; "
          f"load average {before[0]:.2f} before, {after[0]:.2f} after")
    print("| measure | median | worst | target |\n|---|---|---|---|")
    print(f"| first written character after the request | {statistics.median(ms):.1f} ms | {max(ms):.1f} ms "
          "| ≤ 100 ms |")
    print(f"| characters/s streamed with activations | {statistics.median(rates):,.0f} | {min(rates):,.0f} | ≥ 200 |")
    per_char = statistics.median(cpu)
    print(f"| server CPU per written character (its inverse: chars/s on one idle core) | {1000 * per_char:.2f} ms "
          f"({1 / per_char:,.0f}/s) | {1000 * max(cpu):.2f} ms | |")
    print(f"| recolour {len(text)} characters (read) | {1000 * recolour:.0f} ms | | |")
    print(f"| first unit ranking on the validation text (then cached) | {1000 * units:.0f} ms | | |")
    print(f"| gradient map of the last {Limits().max_gradient_tokens} characters | {1000 * gradients:.0f} ms | | |")


if __name__ == "__main__":
    main()
