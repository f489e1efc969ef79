"""Page faults and CPU time of a training step, each layer in a fresh process, against torch.nn.

A training step (``y.sum().backward()``) allocates tensors of ``(T, B, .)`` each call. On Linux glibc
maps blocks this large anew and trims its heap when they are freed, so the next step faults their pages
in again (a fault and a zeroing per 4 KiB page) — how often depends on the process's allocation history,
which is why `speed.py` (all layers in one process) sees torch.nn's time swing from run to run. Here each
layer runs alone in a new Python process, as in a user's training script: ``--warmup`` steps, then
``--steps`` timed ones; per step the minor page faults (``getrusage``) and the process CPU time, the
median over ``--repeats`` processes (the count swings from process to process). Rows are speed.py's
variants (``--only`` to choose) beside torch.nn's fused layer of the same kind::

    python benchmarks/page_faults.py                                    # T=100, B=32, I=64, H=128
    python benchmarks/page_faults.py --only "LSTM layer_norm" --size 1000 8 32 128
    PYTHONPATH=OTHER_CHECKOUT/src python benchmarks/page_faults.py      # another version of rnnkit
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from speed import CONFIGS, TORCH_LAYERS


def measure(kind: str, options: dict | None, size: list[int], warmup: int, steps: int) -> dict:
    """Faults and CPU ms per training step of one layer (options None: torch.nn's fused layer), in this process."""
    import rnnkit

    T, B, I, H = size
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(B, T, I, requires_grad=True)
    layer = TORCH_LAYERS[kind](I, H, batch_first=True) if options is None else getattr(rnnkit, kind)(I, H, **options)

    def step() -> None:
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x)[0].sum().backward()

    for _ in range(warmup):
        step()
    faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    for _ in range(steps):
        step()
    return {"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps,
            "ms": (time.process_time() - started) / steps * 1e3}


def in_fresh_processes(kind: str, options: dict | None, args: argparse.Namespace) -> dict:
    """:func:`measure` in ``args.repeats`` new Python processes (each its own heap): the medians."""
    request = json.dumps([kind, options, args.size, args.warmup, args.steps])
    runs = [json.loads(subprocess.run([sys.executable, __file__, "--child", request], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(args.repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in ("faults", "ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[c.name for c in CONFIGS],
                        help="these rows (default: every variant of speed.py)")
    parser.add_argument("--size", nargs=4, type=int, default=[100, 32, 64, 128], metavar=("T", "B", "I", "H"))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per row (their medians)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return
    import rnnkit
    from rnnkit.kernels import native

    native.load()                                                      # built once, before the children load it
    configs = [c for c in CONFIGS if not args.only or c.name in args.only]
    T, B, I, H = args.size
    print(f"T={T}, B={B}, I={I}, H={H}, 1 thread, {args.steps} steps after {args.warmup}; medians of "
          f"{args.repeats} fresh processes a row; rnnkit from {Path(rnnkit.__file__).parent}")
    print("| layer | faults / step | CPU ms / step | torch.nn faults / step | torch.nn ms / step | ms ratio |")
    print("|---|---|---|---|---|---|")
    theirs = {kind: in_fresh_processes(kind, None, args) for kind in dict.fromkeys(c.kind for c in configs)}
    for config in configs:
        ours, base = in_fresh_processes(config.kind, config.options, args), theirs[config.kind]
        print(f"| {config.name} | {ours['faults']:.0f} | {ours['ms']:.1f} | {base['faults']:.0f} | {base['ms']:.1f} "
              f"| {ours['ms'] / base['ms']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
