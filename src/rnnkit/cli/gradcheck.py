"""``rnnkit gradcheck``: the torch cells against the NumPy reference's hand-derived BPTT."""
from __future__ import annotations

import argparse
import inspect

TOLERANCE = 1e-6
# The tree and graph cells (rnnkit.diagnostics.STRUCTURED_CELLS; a test checks they agree).
STRUCTURED = ("tree-lstm", "nary-tree-lstm", "recursive", "ggnn")


def register(commands, train_commands) -> None:
    from .flags import add, positive_int
    from .main import command

    parser = command(
        commands, "gradcheck", help="compare the torch gradients with the NumPy reference BPTT (float64)",
        description="Runs one cell configuration in torch (autograd, float64 on the CPU) and in the NumPy float64 "
                    "reference (hand-derived BPTT) and prints the max relative error of the outputs and of the "
                    "gradient of every parameter, the input and the initial state. Exit status 1 if any error "
                    f"exceeds {TOLERANCE:g}.")
    add(parser, "cell", "lstm", choices=("srn", "lstm", "gru", *STRUCTURED),
        help="the cell: a chain cell, or a tree / graph cell (trees: batched by level and node by node)")
    parser.add_argument("--all", action="store_true", help="check every variant of the catalogue")
    parser.add_argument("--textbook", action="store_true",
                        help="the textbook SRN language model: softmax(V h_t + c), cross-entropy over time")
    cell = parser.add_argument_group("cell options")
    cell.add_argument("--no-bias", dest="bias", action="store_false", help="cells without biases")
    cell.add_argument("--nonlinearity", help="srn: tanh, relu, ...")
    cell.add_argument("--forget-bias", type=float, help="lstm: a constant added to the forget gate")
    cell.add_argument("--peephole", action="store_true", help="lstm: diagonal peephole connections")
    cell.add_argument("--no-forget-gate", dest="forget_gate", action="store_false", default=None,
                      help="lstm: no forget gate (c_t = c_{t-1} + i * g)")
    cell.add_argument("--coupled", action="store_true", help="lstm: f = 1 - i")
    add(cell, "layer_norm")
    cell.add_argument("--proj-size", type=positive_int, help="lstm: project h_t to this size")
    cell.add_argument("--activation", help="tanh, relu, softsign, ...")
    cell.add_argument("--recurrent-activation", help="sigmoid, hard_sigmoid, ...")
    cell.add_argument("--reset-before", dest="reset_after", action="store_false", default=None,
                      help="gru: reset gate before the recurrent product (Cho et al. 2014)")
    run = parser.add_argument_group("sequence options")
    run.add_argument("--lengths", action="store_true", help="a padded batch with random lengths")
    add(run, "bidirectional", False, help="both directions")
    add(run, "recurrent_dropout", 0.0, help="rate of a fixed variational mask")
    add(run, "zoneout", 0.0, help="evaluation-mode zoneout rate")
    add(run, "seed", 0)
    run.add_argument("--path", choices=["auto", "loop", "both"], default="both",
                     help="torch side: the dispatched kernel (auto), the per-step autograd loop, or both")
    parser.set_defaults(func=run_gradcheck)


def cell_options(args: argparse.Namespace) -> dict:
    """The cell options the flags set (defaults left out, so each cell gets only its own)."""
    flags = {"bias": args.bias, "nonlinearity": args.nonlinearity, "forget_bias": args.forget_bias,
             "peephole": args.peephole, "forget_gate": args.forget_gate, "coupled": args.coupled,
             "layer_norm": args.layer_norm, "proj_size": args.proj_size, "activation": args.activation,
             "recurrent_activation": args.recurrent_activation, "reset_after": args.reset_after}
    defaults = {"bias": True, "peephole": False, "coupled": False, "layer_norm": False}
    return {k: v for k, v in flags.items() if v is not None and defaults.get(k, object()) != v}


def run_gradcheck(args: argparse.Namespace) -> int:
    from ..cells import GRUCell, LSTMCell, SimpleRNNCell
    from ..diagnostics import VARIANTS, check_against_reference, check_textbook_lm
    from .errors import CommandError

    sequence = {"lengths": args.lengths, "bidirectional": args.bidirectional,
                "recurrent_dropout": args.recurrent_dropout, "zoneout": args.zoneout, "seed": args.seed}
    paths = ["auto", "loop"] if args.path == "both" else [args.path]
    if args.cell in STRUCTURED and not args.all:
        runs = structured_runs(args.cell, cell_options(args), sequence, paths)
    elif args.textbook:
        runs = {"srn-textbook-lm": lambda: check_textbook_lm(seed=args.seed)}
    elif args.all:
        runs = {f"{name} [{path}]": (lambda k=kind, o=opts, p=path: check_against_reference(k, **o, **sequence, path=p))
                for name, (kind, opts) in VARIANTS.items() for path in paths}
        for cell in STRUCTURED:
            runs.update(structured_runs(cell, {}, {}, paths))
    else:
        options = cell_options(args)
        accepted = inspect.signature({"srn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}[args.cell]).parameters
        foreign = sorted(k for k in options if k not in accepted)
        if foreign:
            raise CommandError(f"--cell {args.cell} does not take {', '.join(foreign)}")
        label = args.cell + "".join(f" {k}={v}" for k, v in options.items())
        runs = {f"{label} [{path}]": (lambda p=path: check_against_reference(args.cell, **options, **sequence, path=p))
                for path in paths}
    worst_overall = 0.0
    for label, run in runs.items():
        errors = run()
        worst = max(errors.values())
        worst_overall = max(worst_overall, worst)
        print(f"{label}: max relative error {worst:.2e} {'ok' if worst < TOLERANCE else 'FAIL'}")
        if not args.all:
            width = max(map(len, errors))
            for name, error in errors.items():
                print(f"  {name:<{width}}  {error:.2e}")
    print(f"worst {worst_overall:.2e} (tolerance {TOLERANCE:g}): {'PASS' if worst_overall < TOLERANCE else 'FAIL'}")
    return 0 if worst_overall < TOLERANCE else 1


def structured_runs(cell: str, options: dict, sequence: dict, paths: list[str]) -> dict:
    """Label -> check of a tree cell (auto: the batched level schedule, loop: node by node) or the GGNN."""
    from ..diagnostics.gradcheck_structured import (accepted_options, check_ggnn_against_reference,
                                                    check_tree_against_reference)
    from .errors import CommandError

    chain_only = sorted(k for k, v in sequence.items() if v and k != "seed")
    foreign = sorted(k for k in options if k not in accepted_options(cell)) + chain_only
    if foreign:
        raise CommandError(f"--cell {cell} does not take {', '.join(foreign)}")
    seed = sequence.get("seed", 0)
    label = cell + "".join(f" {k}={v}" for k, v in options.items())
    if cell == "ggnn":
        return {label: lambda: check_ggnn_against_reference(seed=seed, **options)}
    schedule = {"auto": "schedule", "loop": "per-node"}
    return {f"{label} [{schedule[p]}]": (lambda p=p: check_tree_against_reference(cell, path=schedule[p], seed=seed,
                                                                                   **options))
            for p in paths}
