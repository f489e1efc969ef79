"""Speed of rnnkit's layers against torch.nn's fused layers, the naive per-step loop and Keras 3.

For SimpleRNN, LSTM, GRU and each variant of the fast-paths issue, at each size (T, B, I, H), one
forward + backward pass (``y.sum().backward()``, training mode) of:

- ``torch.nn``: the fused standard layer of the same kind and size (torch.nn.LSTM / GRU / RNN), the
  yardstick every ratio divides by;
- ``rnnkit``: the rnnkit layer with the variant, on the default path ``layer.fast_path`` names: for
  the BPTT kernels, their C++ step loops (rnnkit/kernels/native.py; a user's first process builds
  them in the background, this benchmark builds them first and waits);
- ``torch loops``: the same with the BPTT kernels' step loops in torch ops (``RNNKIT_NATIVE=0``,
  what runs where the C++ loops cannot be built);
- ``inference``: ``torch.no_grad()`` forward in evaluation mode, rnnkit against torch.nn's fused
  standard layer, also in ``torch.no_grad()``;
- with ``--peers`` (the first thread count only): ``loop``, the same layer inside
  ``rnnkit.kernels.force_loop()``, the naive per-step autograd loop, and ``keras``, Keras 3 on its
  torch backend, where installed and where Keras has the variant, and each one's peak memory.

Targets (the fast-paths issues): every variant ≤ 1.3x the fused standard layer at H ≥ 128 and
≤ 1.5x at H = 64, at 1 and 2 threads; inference ≤ 1.2x; streaming ≤ 1.1x. The tables mark each.

All run interleaved in rounds in one process; a ratio is the median over rounds of
``time / time of torch.nn measured just before``. By default (``--clock auto``) time is this process's
CPU time at 1 thread (on a shared machine it leaves out the time other processes hold the cores) and
wall-clock time at more threads, where CPU time would count the OpenMP workers' spin-waits between
parallel regions, which vary from call to call (0.3x to 4.5x for the same code in one run); run those
on an otherwise idle machine. ``--clock cpu`` or ``--clock wall`` sets one for all; CUDA is always
timed by the wall clock. Peak memory is the
largest amount of tensor memory held during one forward + backward (every op's output storage
followed until freed on CPU, ``max_memory_allocated`` on CUDA).
A second table runs variable-length batches (lengths drawn uniformly from T/2 .. T, right padding):
``torch.nn`` on ``pack_padded_sequence`` (how torch.nn users pass lengths) against rnnkit's
``layer(x, lengths=...)``, with torch.nn on the padded batch without lengths as the floor.
A last line streams one step at a time without gradients (B=1, H=512) through
``rnnkit.LSTMCell`` and ``torch.nn.LSTMCell``. Run::

    python benchmarks/speed.py                        # every size, 1 and 2 threads; writes BENCHMARKS.md "Speed"
    python benchmarks/speed.py --quick --threads 1    # two sizes, fewer variants; prints only
    python benchmarks/speed.py --only "LSTM layer_norm" --rounds 9   # one row, every size; prints only
    python benchmarks/speed.py --only "LSTM peephole" --input-scale 100   # saturated gates; prints only
    python benchmarks/speed.py --warm-calls 1 --threads 1   # each call after one of its own; prints only

The machine is shared: the figures are noisy, the ratios (measured side by side) less so.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import torch

import rnnkit
from rnnkit import kernels
from rnnkit.kernels import native

from peak_memory import peak_megabytes

os.environ.setdefault("KERAS_BACKEND", "torch")

SIZES = [(100, 32, 64, 128), (100, 64, 256, 512), (200, 16, 32, 64), (1000, 8, 32, 128)]
QUICK_SIZES = [(100, 32, 64, 128), (1000, 8, 32, 128)]
LENGTH_CASES = [("LSTM", 100, 32, 64, 128, False), ("LSTM", 400, 64, 200, 128, True),
                ("GRU", 100, 32, 64, 128, False), ("GRU", 400, 64, 200, 128, True)]   # kind, T, B, I, H, bidirectional
STREAM_STEPS, STREAM_SIZE = 1000, 512
CLOCKS = {"cpu": "CPU time", "wall": "wall-clock time"}
BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


class Config(NamedTuple):
    """One row: a layer kind, its rnnkit options and the Keras options computing the same (None: none)."""

    name: str
    kind: str                     # "LSTM", "GRU" or "SimpleRNN"
    options: dict
    keras: dict | None
    quick: bool = False


CONFIGS = [
    Config("LSTM", "LSTM", {}, {}, quick=True),
    Config("LSTM peephole", "LSTM", {"peephole": True}, None, quick=True),
    Config("LSTM layer_norm", "LSTM", {"layer_norm": True}, None, quick=True),
    Config("LSTM coupled", "LSTM", {"coupled": True}, None),
    Config("LSTM forget_gate=False", "LSTM", {"forget_gate": False}, None),
    Config("LSTM hard_sigmoid", "LSTM", {"recurrent_activation": "hard_sigmoid"},
           {"recurrent_activation": "hard_sigmoid"}),
    Config("LSTM recurrent_dropout=0.25", "LSTM", {"recurrent_dropout": 0.25}, {"recurrent_dropout": 0.25},
           quick=True),
    Config("LSTM zoneout=0.1", "LSTM", {"zoneout": 0.1}, None),
    Config("GRU", "GRU", {}, {}, quick=True),
    Config("GRU reset_after=False", "GRU", {"reset_after": False}, {"reset_after": False}, quick=True),
    Config("GRU layer_norm", "GRU", {"layer_norm": True}, None),
    Config("GRU recurrent_dropout=0.25", "GRU", {"recurrent_dropout": 0.25}, {"recurrent_dropout": 0.25}),
    Config("GRU zoneout=0.1", "GRU", {"zoneout": 0.1}, None),
    Config("SimpleRNN", "SimpleRNN", {}, {}, quick=True),
    Config("SimpleRNN recurrent_dropout=0.25", "SimpleRNN", {"recurrent_dropout": 0.25},
           {"recurrent_dropout": 0.25}),
    Config("SimpleRNN zoneout=0.1", "SimpleRNN", {"zoneout": 0.1}, None),
]
TORCH_LAYERS = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}


def keras_layer(config: Config, hidden: int, device):
    """The Keras 3 layer for ``config`` (torch backend) or None when Keras is absent or lacks the variant."""
    if config.keras is None:
        return None
    try:
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "torch":
        return None
    with torch.device(device):
        return getattr(keras.layers, config.kind)(hidden, return_sequences=True, **config.keras)


@contextlib.contextmanager
def step_loops(torch_loops: bool) -> Iterator[None]:
    """Runs the BPTT kernels' step loops in torch ops (``torch_loops``, as ``RNNKIT_NATIVE=0``) or on
    the default path (the environment as it is)."""
    if not torch_loops:
        yield
        return
    before = os.environ.get(native.ENV)
    os.environ[native.ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[native.ENV]
        else:
            os.environ[native.ENV] = before


def step_fn(layer, x: torch.Tensor, keras_call: bool = False, loop: bool = False,
            torch_loops: bool = False) -> Callable[[], None]:
    """One forward + backward pass of ``layer`` on ``x``."""
    def run() -> None:
        with kernels.force_loop() if loop else contextlib.nullcontext(), step_loops(torch_loops):
            y = layer(x, training=True) if keras_call else layer(x)[0]
            y.sum().backward()
    return run


def inference_fn(layer, x: torch.Tensor) -> Callable[[], None]:
    """One ``torch.no_grad()`` forward pass of ``layer`` (evaluation mode) on ``x``."""
    x = x.detach()

    def run() -> None:
        with torch.no_grad():
            layer(x)
    return run


def cpu_name() -> str:
    """The CPU's model name (the ratios differ between CPUs: oneDNN's and the loops' kernels, denormal costs)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as lines:
            return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def target(H: int) -> float:
    """The ratio a variant may reach against the fused standard layer at hidden size H."""
    return 1.3 if H >= 128 else 1.5


def timed(fn: Callable[[], None], device, clock: str, warm_calls: int = 0) -> float:
    """Seconds of ``fn``: this process's CPU time (``clock="cpu"``, CPU only) or wall-clock time; the
    call timed after ``warm_calls`` untimed calls of ``fn`` itself."""
    for _ in range(warm_calls):
        fn()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - started
    now = time.process_time if clock == "cpu" else time.perf_counter
    started = now()
    fn()
    return now() - started


def bench_size(size, configs, rounds: int, device, clock: str, peers: bool, input_scale: float = 1.0,
               warm_calls: int = 0) -> list[dict]:
    """Times every implementation of every config at one size, interleaved in ``rounds`` rounds: each
    config's implementations right after a run of the torch.nn layer they are divided by (training),
    and its inference right after torch.nn's inference; with ``warm_calls``, each timed call after that
    many untimed calls of its own (each implementation in its steady state, as in a training loop of
    one layer). The inputs are standard normal times ``input_scale``."""
    T, B, I, H = size
    x = (torch.randn(B, T, I, device=device) * input_scale).requires_grad_()
    torch_layers = {kind: TORCH_LAYERS[kind](I, H, batch_first=True).to(device)
                    for kind in dict.fromkeys(c.kind for c in configs)}
    references = {kind: step_fn(layer, x) for kind, layer in torch_layers.items()}
    inference_references = {kind: inference_fn(layer.eval(), x) for kind, layer in torch_layers.items()}
    rows = []
    for config in configs:
        layer = getattr(rnnkit, config.kind)(I, H, **config.options).to(device).train()
        fns = {"rnnkit": step_fn(layer, x)}
        if layer.fast_path.startswith(kernels.BPTT):
            fns["torch loops"] = step_fn(layer, x, torch_loops=True)
        if peers:
            fns["loop"] = step_fn(layer, x, loop=True)
            keras = keras_layer(config, H, device)
            if keras is not None:
                fns["keras"] = step_fn(keras, x, keras_call=True)
        evaluated = getattr(rnnkit, config.kind)(I, H, **config.options).to(device).eval()
        rows.append({"config": config, "path": layer.fast_path, "fns": fns, "inference": inference_fn(evaluated, x),
                     "ratios": {name: [] for name in [*fns, "inference"]}, "ms": []})
    for fn in [*references.values(), *inference_references.values(),
               *(f for row in rows for f in [*row["fns"].values(), row["inference"]])]:
        fn()                                                                     # warm up
    for _ in range(rounds):
        for row in rows:
            base = timed(references[row["config"].kind], device, clock, warm_calls)
            row["ms"].append(base * 1e3)
            for name, fn in row["fns"].items():
                row["ratios"][name].append(timed(fn, device, clock, warm_calls) / base)
            base = timed(inference_references[row["config"].kind], device, clock, warm_calls)
            row["ratios"]["inference"].append(timed(row["inference"], device, clock, warm_calls) / base)
    if peers:
        for row in rows:
            row["peak"] = {"torch.nn": peak_megabytes(references[row["config"].kind], device)}
            row["peak"].update({name: peak_megabytes(fn, device) for name, fn in row["fns"].items()})
    return rows


def bench_lengths(rounds: int, device, clock: str) -> list[str]:
    """The variable-lengths table: torch.nn packed, torch.nn padded (no lengths) and rnnkit with lengths."""
    from torch.nn.utils.rnn import pack_padded_sequence

    lines = ["| layer (T, B, I, H) | torch.nn packed ms | torch.nn padded, no lengths ms | rnnkit lengths ms "
             "| rnnkit / packed | rnnkit / padded |", "|---|---|---|---|---|---|"]
    for kind, T, B, I, H, bidirectional in LENGTH_CASES:
        theirs = TORCH_LAYERS[kind](I, H, batch_first=True, bidirectional=bidirectional).to(device)
        ours = getattr(rnnkit, kind)(I, H, bidirectional=bidirectional).to(device)
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(B, T, I, device=device, requires_grad=True)
        lengths = torch.randint(T // 2, T + 1, (B,))
        lengths[0] = T

        def packed() -> None:
            out, _ = theirs(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            out.data.sum().backward()

        fns = {"packed": packed, "padded": step_fn(theirs, x),
               "rnnkit": lambda: ours(x, lengths=lengths.to(device))[0].sum().backward()}
        times = {name: [] for name in fns}
        for fn in fns.values():
            fn()                                                                 # warm up
        for _ in range(rounds):
            for name, fn in fns.items():
                times[name].append(timed(fn, device, clock))
        ms = {name: statistics.median(v) * 1e3 for name, v in times.items()}
        lines.append(f"| {'bidirectional ' if bidirectional else ''}{kind} ({T}, {B}, {I}, {H}) | {ms['packed']:.1f} "
                     f"| {ms['padded']:.1f} | {ms['rnnkit']:.1f} | **{ms['rnnkit'] / ms['packed']:.2f}** "
                     f"| {ms['rnnkit'] / ms['padded']:.2f} |")
    return lines


def bench_streaming(rounds: int, device, clock: str) -> tuple[float, float, float]:
    """No-grad streaming, B=1: ``(ms per step torch.nn.LSTMCell, ms per step rnnkit.LSTMCell, ratio)``."""
    size = STREAM_SIZE
    theirs = torch.nn.LSTMCell(size, size).to(device)
    ours = rnnkit.LSTMCell(size, size).to(device)
    ours.load_state_dict(theirs.state_dict())
    xs = torch.randn(STREAM_STEPS, 1, size, device=device)

    def run_theirs() -> None:
        state = (torch.zeros(1, size, device=device), torch.zeros(1, size, device=device))
        for x_t in xs:
            state = theirs(x_t, state)

    def run_ours() -> None:
        state = None
        for x_t in xs:
            _, state = ours(x_t, state)

    ms_theirs, ms_ours, ratios = [], [], []
    with torch.no_grad():
        run_theirs(), run_ours()
        for _ in range(rounds):
            a, b = timed(run_theirs, device, clock), timed(run_ours, device, clock)
            ms_theirs.append(a * 1e3 / STREAM_STEPS)
            ms_ours.append(b * 1e3 / STREAM_STEPS)
            ratios.append(b / a)
    return statistics.median(ms_theirs), statistics.median(ms_ours), statistics.median(ratios)


def size_table(size, rows, threads: int, clock: str, peers: bool) -> tuple[list[str], list[str]]:
    """The markdown table of one size and the rows over their targets (``name: ratio > target``)."""
    T, B, I, H = size
    limit = target(H)
    header = "| layer | rnnkit path | torch.nn ms | rnnkit / fused | torch loops / fused | inference / fused |"
    rule = "|---|---|---|---|---|---|"
    if peers:
        header += " loop / fused | keras / fused | peak MiB fused / rnnkit / torch loops / loop |"
        rule += "---|---|---|"
    lines = [f"**T={T}, B={B}, I={I}, H={H}, {threads} thread(s)**, {CLOCKS[clock]} "
             f"(targets: training ≤ {limit}, inference ≤ 1.2)",
             "", header, rule]
    over = []
    for row in rows:
        median = {name: statistics.median(v) for name, v in row["ratios"].items()}
        ratio = {name: f"{value:.2f}" for name, value in median.items()}
        for name, bound in (("rnnkit", limit), ("inference", 1.2)):
            if median[name] > bound:
                over.append(f"{row['config'].name} {name} {median[name]:.2f} (T={T}, H={H}, {threads} thr)")
                ratio[name] += " ✗"
        line = (f"| {row['config'].name} | {row['path']} | {statistics.median(row['ms']):.1f} "
                f"| **{ratio['rnnkit']}** | {ratio.get('torch loops', '—')} | {ratio['inference']} |")
        if peers:
            peak = row["peak"]
            line += (f" {ratio['loop']} | {ratio.get('keras', '—')} | {peak['torch.nn']:.0f} / {peak['rnnkit']:.0f} / "
                     f"{'—' if 'torch loops' not in peak else format(peak['torch loops'], '.0f')} / "
                     f"{peak['loop']:.0f} |")
        lines.append(line)
    return lines + [""], over


def streaming_line(streaming) -> str:
    ms_theirs, ms_ours, ratio = streaming
    return (f"Streaming, no grad, one step at a time, B=1, I=H={STREAM_SIZE}, {STREAM_STEPS} steps: "
            f"torch.nn.LSTMCell {ms_theirs:.3f} ms/step, rnnkit.LSTMCell {ms_ours:.3f} ms/step, "
            f"ratio **{ratio:.2f}** (median of rounds; target ≤ 1.1: {'met' if ratio <= 1.1 else 'NOT MET'}).")


def write_section(text: str, append: bool = False) -> None:
    """Replaces (or adds) the "## Speed" section of BENCHMARKS.md, leaving the others as they are; with
    ``append``, adds ``text`` (less its heading) at the end of the section (a second thread count run
    apart from the first, e.g. when the machine is free for 2 threads)."""
    content = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    start = content.find("\n## Speed\n")
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text
    else:
        end = content.find("\n## ", start + 1)
        end = len(content) if end < 0 else end
        if append:
            text = content[start + 1:end].rstrip("\n") + "\n\n" + text.split("\n", 2)[2].lstrip("\n")
        content = content[:start + 1] + text + content[end:]
    BENCHMARKS_MD.write_text(content.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two sizes and the marked variants; no write")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[c.name for c in CONFIGS],
                        help="these rows alone (e.g. 'LSTM layer_norm'), every size; no write")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch intra-op thread counts, a table set each (default: 1 2)")
    parser.add_argument("--peers", action="store_true",
                        help="also the per-step autograd loop, Keras and peak memory (first thread count)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                        help="process CPU time or wall time (auto: CPU time at 1 thread, wall time at more)")
    parser.add_argument("--lengths-only", action="store_true", help="only the variable-lengths table; no write")
    parser.add_argument("--input-scale", type=float, default=1.0, metavar="S",
                        help="inputs of standard deviation S (100: saturated gates, denormal products); no write")
    parser.add_argument("--warm-calls", type=int, default=0, metavar="N",
                        help="time each call after N untimed calls of the same function (each implementation "
                             "warm, in its steady state; 0: every call right after the others'); no write")
    parser.add_argument("--append", action="store_true",
                        help="add the tables to BENCHMARKS.md's Speed section instead of replacing it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads[0])
    torch.manual_seed(0)
    def clock(threads: int) -> str:
        return args.clock if args.clock != "auto" else ("cpu" if threads == 1 else "wall")

    if args.lengths_only:
        print("\n".join(bench_lengths(args.rounds, args.device, clock(args.threads[0]))))
        return
    configs = [c for c in CONFIGS if (c.quick or not args.quick) and (not args.only or c.name in args.only)]
    sizes = QUICK_SIZES if args.quick else SIZES
    started = time.perf_counter()
    built = native.load() is not None                           # what a user's later processes run
    build_note = (f"built and loaded in {time.perf_counter() - started:.0f} s" if built else "not available here")
    command = "python benchmarks/speed.py" + (" --quick" if args.quick else "") + \
        (" --only " + " ".join(f"'{name}'" if " " in name else name for name in args.only) if args.only else "") + \
        (f" --threads {' '.join(map(str, args.threads))}" if args.threads != [1, 2] else "") + \
        (" --peers" if args.peers else "") + (" --append" if args.append else "") + \
        (f" --rounds {args.rounds}" if args.rounds != 5 else "") + \
        (f" --device {args.device}" if args.device != "cpu" else "") + \
        (f" --clock {args.clock}" if args.clock != "auto" else "") + \
        (f" --input-scale {args.input_scale:g}" if args.input_scale != 1.0 else "") + \
        (f" --warm-calls {args.warm_calls}" if args.warm_calls else "")
    try:
        import keras
        keras_version = f"Keras {keras.__version__} ({keras.backend.backend()} backend)"
    except ImportError:
        keras_version = "Keras not installed"
    header = [f"    {command}", "",
              f"torch {torch.__version__}, device {args.device}, {cpu_name()}, {os.cpu_count()} cores, "
              f"C++ step loops: {build_note}, "
              f"{keras_version if args.peers else ''}{', ' if args.peers else ''}"
              f"load average {os.getloadavg()[0]:.1f} at the start (a shared machine: the figures are noisy). "
              f"Ratios are medians over {args.rounds} interleaved rounds of time (each table names its clock) / "
              "time of the torch.nn fused standard layer of the same kind and size run just before"
              + (f" (each timed call after {args.warm_calls} untimed call(s) of its own)" if args.warm_calls else "")
              + "; forward + backward "
              "of `y.sum()` in training mode. rnnkit = the default path (for the BPTT kernels: their C++ step "
              "loops), torch loops = the same with `RNNKIT_NATIVE=0` (the BPTT kernels' step loops in torch ops, "
              "where the C++ loops cannot be built), inference = `torch.no_grad()` forward in evaluation mode "
              "against torch.nn's, also under no_grad"
              + (", loop = the same rnnkit layer inside `kernels.force_loop()`." if args.peers else ".")]
    print("\n".join(header), flush=True)
    lines = ["## Speed", "", *header, ""]
    over = []
    for index, threads in enumerate(args.threads):
        torch.set_num_threads(threads)
        for size in sizes:
            rows = bench_size(size, configs, args.rounds, args.device, clock(threads), peers=args.peers and index == 0,
                              input_scale=args.input_scale, warm_calls=args.warm_calls)
            table, missed = size_table(size, rows, threads, clock(threads), peers=args.peers and index == 0)
            print("\n".join(table), flush=True)
            lines += table
            over += missed
    torch.set_num_threads(args.threads[0])
    if not args.append and not args.only:                     # once per section: the first thread count
        table = [f"**Variable lengths** (uniform in T/2 .. T; median of rounds, forward + backward, "
                 f"{args.threads[0]} thread(s))", "", *bench_lengths(args.rounds, args.device, clock(args.threads[0])), ""]
        print("\n".join(table), flush=True)
        lines += table
        lines += [streaming_line(bench_streaming(max(args.rounds, 9), args.device, clock(args.threads[0]))), ""]
    lines += [f"Over target in this run ({len(over)}): " + ("; ".join(over) if over else "none") + ".", ""]
    print("\n".join(lines[-4:]), flush=True)
    if not (args.quick or args.only or args.input_scale != 1.0 or args.warm_calls):
        write_section("\n".join(lines), append=args.append)
        print(f"wrote the Speed section of {BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
