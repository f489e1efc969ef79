"""Long-range memory, measured: the adding problem at lags 50 / 100 / 200 and sequential digits for SRN, LSTM, GRU.

The textbook table (Hochreiter & Schmidhuber 1997; Le et al. 2015): on the adding problem a model
without memory scores MSE 0.167 (always answering 1); the simple RNN stays there at long lags while
the LSTM and GRU solve it (MSE < 0.01). Each run is ``rnnkit memory``'s
:func:`~rnnkit.cli.memory.train_memory_model`: a ``MemoryModel`` (one recurrent layer of H units and a
linear readout) trained by ``rnnkit.train.Trainer`` with Adam and gradient-norm clipping at 1, for a
budget of CPU time (``time.process_time`` of the one-thread process: on a shared machine the wall
clock says little about the compute a run got; the wall clock is capped at ``--wall-factor`` times
the budget), scored on the task's fixed test set (1,000 sequences; the digits' 359 test images).
An adding run stops early once its test MSE at an epoch end (every 100 batches) is below
``--stop-below`` (default 0.01: solved), so its CPU minutes are the time to solve.

Also measured: the relative gradient ``‖∂L_t/∂h_(t-d)‖ / lag 0`` by lag d of the untrained cells at
T = 200 and of every run before and after training (``rnnkit.diagnostics``).

Outputs under ``--out`` (default ``benchmarks/results``): ``memory.json`` (every run, appended as it
finishes; a rerun skips the runs already there unless ``--fresh``), the PNGs
``memory_gradient_untrained.png``, ``memory_heatmap_{srn,lstm}_untrained.png``,
``memory_gradient_trained.png``, ``memory_adding_curves.png``, ``memory_digits_curves.png``, and the
markdown tables printed at the end.

Not a test: run it by hand with a budget, e.g. (the full-length command)::

    python benchmarks/memory.py --minutes 20 --digits-minutes 10

and copy the tables into BENCHMARKS.md (section "Memory / gradient flow").
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from rnnkit.cli.memory import train_memory_model
from rnnkit.data.synthetic import ADDING_BASELINE_MSE, SequenceBatch, memory_task
from rnnkit.diagnostics import diagnose, plot_curves, plot_heatmap
from rnnkit.tasks.memory import MemoryModel, config_for

CELLS = ("srn", "lstm", "gru")
TARGET_MSE = 0.01


def plot_untrained(length: int, hidden: int, out: Path) -> None:
    """Layer 0's relative gradient by lag of each untrained cell on 16 adding sequences of ``length``
    (``memory_gradient_untrained.png``) and the (t, k) heatmaps of the SRN and the LSTM."""
    data = memory_task("adding", length, test_size=16)
    probe = SequenceBatch(data.test.x, data.test.y)
    curves = {}
    for cell in CELLS:
        torch.manual_seed(0)
        report = diagnose(MemoryModel(config_for(data, cell, hidden)), probe, jacobian_rows=0)
        curves[f"{cell} (ρ(W_hh) max {max(s.radius for s in report.spectra):.2f}, {report.verdict})"] = (
            report.flow.relative_by_lag(0))
        if cell != "gru":
            plot_heatmap(report.flow, out / f"memory_heatmap_{cell}_untrained.png",
                         title=f"untrained {cell}, H={hidden}, adding T={length}")
    plot_curves(curves, out / "memory_gradient_untrained.png", "‖∂L_t/∂h_(t-d)‖ / lag 0",
                f"untrained cells, H={hidden}, adding T={length}")


def run_record(result, args) -> dict:
    return {"task": result.task, "lag": result.lag, "cell": result.cell, "hidden": args.hidden, "lr": args.lr,
            "steps": result.steps, "minutes": result.seconds / 60, "cpu_minutes": result.cpu_seconds / 60,
            "test": result.test,
            "diverged": result.diverged, "verdicts": list(result.verdicts),
            "gradient_lag": result.gradient_lag, "relative_gradient": list(result.relative_gradient),
            "gradient_before": result.gradient_curves[0].tolist(), "gradient_after": result.gradient_curves[1].tolist(),
            "trace": result.trace, "gradient_events": len(result.events)}


def adding_table(runs: list[dict]) -> str:
    lines = [f"| lag T | cell | test MSE (baseline {ADDING_BASELINE_MSE:.3f}) | solved (< {TARGET_MSE}) | CPU min | "
             "wall min | steps | gradient at lag min(50, T−1) / lag 0, init → trained | verdict init → trained |",
             "|---:|---|---:|---|---:|---:|---:|---|---|"]
    for r in sorted(runs, key=lambda r: (r["lag"], CELLS.index(r["cell"]))):
        mse = r["test"]["loss"]
        before, after = r["relative_gradient"]
        lines.append(f"| {r['lag']} | {r['cell']} | {mse:.4f} | {'yes' if mse < TARGET_MSE else 'no'} | "
                     f"{r['cpu_minutes']:.1f} | {r['minutes']:.1f} | {r['steps']} | {before:.1e} → {after:.1e} | "
                     f"{r['verdicts'][0]} → {r['verdicts'][1]} |")
    return "\n".join(lines)


def digits_table(runs: list[dict]) -> str:
    lines = ["| task | cell | test accuracy (chance 0.10) | test loss | CPU min | wall min | steps |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(runs, key=lambda r: (r["task"], CELLS.index(r["cell"]))):
        name = "sequential digits" if r["task"] == "digits" else "permuted sequential digits"
        lines.append(f"| {name} | {r['cell']} | {r['test'].get('accuracy', float('nan')):.3f} | "
                     f"{r['test']['loss']:.3f} | {r['cpu_minutes']:.1f} | {r['minutes']:.1f} | {r['steps']} |")
    return "\n".join(lines)


def plot_traces(runs: list[dict], path: Path, key: str, ylabel: str, title: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for r in runs:
        label = f"{r['task']} {'T=' + str(r['lag']) + ' ' if r['task'] == 'adding' else ''}{r['cell']}"
        points = [(p["cpu_minutes"], p[key]) for p in r["trace"] if key in p]
        if points:
            axes.plot(*zip(*points), label=label, marker=".", markersize=3)
    if key == "val_loss":
        axes.set_yscale("log")
        axes.axhline(ADDING_BASELINE_MSE, color="grey", linestyle="--", linewidth=0.8)
        axes.axhline(TARGET_MSE, color="grey", linestyle=":", linewidth=0.8)
    axes.set_xlabel("training CPU minutes")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="x-small", ncol=2)
    figure.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="CPU-time budget of each adding run")
    parser.add_argument("--digits-minutes", type=float, default=10.0, help="CPU-time budget of each digits run")
    parser.add_argument("--wall-factor", type=float, default=10.0, help="wall-clock cap = factor x CPU budget")
    parser.add_argument("--lags", default="50,100,200")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--tasks", default="adding,digits,pdigits")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--stop-below", type=float, default=TARGET_MSE)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--fresh", action="store_true", help="rerun the runs already in memory.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "memory.json"
    saved = {} if args.fresh or not store.exists() else json.loads(store.read_text())
    runs = saved.setdefault("runs", {})
    saved["machine"] = (f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                        f"{args.threads} thread(s)")

    plot_untrained(200, args.hidden, out)
    cells = args.cells.split(",")
    plan = [("adding", int(lag), cell) for lag in args.lags.split(",") for cell in cells
            if "adding" in args.tasks.split(",")]
    plan += [(task, None, cell) for task in ("digits", "pdigits") if task in args.tasks.split(",") for cell in cells]
    for task, lag, cell in plan:
        key = f"{task}-{lag or 64}-{cell}"
        if key in runs:
            continue
        started = time.strftime("%H:%M:%S")
        print(f"{started} {key}: training ...", flush=True)
        adding = task == "adding"
        budget = args.minutes if adding else args.digits_minutes
        result = train_memory_model(task, lag, cell, hidden=args.hidden, lr=args.lr, clip_norm=1.0,
                                    minutes=budget * args.wall_factor, cpu_minutes=budget,
                                    stop_below=args.stop_below if adding else None, monitor_every=500)
        runs[key] = run_record(result, args)
        store.write_text(json.dumps(saved, indent=1))
        print(f"  {key}: test {result.test} after {result.steps} steps, {result.cpu_seconds / 60:.1f} CPU min, "
              f"{result.seconds / 60:.1f} min", flush=True)

    adding_runs = [r for r in runs.values() if r["task"] == "adding"]
    digit_runs = [r for r in runs.values() if r["task"] != "adding"]
    if adding_runs:
        plot_traces(adding_runs, out / "memory_adding_curves.png", "val_loss", "test MSE",
                    "adding problem (dashed: answer 1; dotted: solved)")
        longest = max(r["lag"] for r in adding_runs)
        trained = {}
        for r in adding_runs:
            if r["lag"] == longest:
                trained[f"{r['cell']} init"] = torch.tensor(r["gradient_before"])
                trained[f"{r['cell']} trained"] = torch.tensor(r["gradient_after"])
        plot_curves(trained, out / "memory_gradient_trained.png", "‖∂L_t/∂h_(t-d)‖ / lag 0",
                    f"adding T={longest}: before and after training")
        print(adding_table(adding_runs))
    if digit_runs:
        plot_traces(digit_runs, out / "memory_digits_curves.png", "val_accuracy", "test accuracy",
                    "sequential (permuted) 8x8 digits")
        print(digits_table(digit_runs))
    print(f"machine: {saved['machine']}")


if __name__ == "__main__":
    main()
