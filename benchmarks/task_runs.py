"""What the task benchmarks (``tasks.py``) share: training through the CLI into a run directory, seeds' run
directories, and the markdown tables they print."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnkit.cli.main import main as rnnkit_main


def train(args: argparse.Namespace, run_dir: Path, command: list[str]) -> dict:
    """Runs ``rnnkit train ...`` into ``run_dir`` (unless ``--reuse`` finds its scores) and returns them."""
    scores_path = run_dir / "test_scores.json"
    if not (args.reuse and scores_path.exists()):
        full = ["train", *command, "--run-dir", str(run_dir), "--overwrite"]
        if args.minutes:
            full += ["--minutes", str(args.minutes)]
        print("$ rnnkit " + " ".join(full), flush=True)
        started = time.perf_counter()
        if rnnkit_main(full) != 0:
            raise SystemExit(f"rnnkit {' '.join(full)} failed")
        print(f"trained in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    return json.loads(scores_path.read_text(encoding="utf-8"))


def table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def seed_runs(name: str, seeds: list[int]) -> dict[int, str]:
    """Run directory names of ``name`` per seed: seed 0 in ``name`` itself, seed k in ``name-seedk``."""
    return {seed: name if seed == 0 else f"{name}-seed{seed}" for seed in seeds}
