"""The command line as a whole: one name per concept, defaults shown, --device everywhere, fast help."""
import argparse
import dataclasses
import subprocess
import sys

import pytest

from rnnkit.cli import flags
from rnnkit.cli.main import build_parser

# Spellings that name the same concept; a command line may use one of each group, never two.
SYNONYMS = [
    {"--hidden", "--hidden-size", "--units", "--hidden-units"},
    {"--embed", "--embed-size", "--embedding-size", "--embedding-dim"},
    {"--minutes", "--max-time", "--seconds", "--time-limit"},
    {"--cell", "--cells"},
    {"--layers", "--num-layers", "--n-layers"},
    {"--max-steps", "--step-limit"},
    {"--seq-len", "--window", "--bptt-len"},
    {"--run-dir", "--out-dir", "--output-dir"},
    {"--lr", "--learning-rate"},
    {"--batch-size", "--batch"},
    {"--device", "--gpu", "--cuda"},
    {"--lag", "--lags"},
]
# Commands that run a model but not on a chosen device: the gradient check runs torch in float64 on
# the CPU against the NumPy reference.
CPU_ONLY = {"gradcheck"}


def leaf_parsers():
    """``{"train lm": parser, "generate": parser, ...}``."""
    found = {}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
                return
        found[prefix] = parser

    walk(build_parser(), "")
    return found


LEAVES = leaf_parsers()


def options(parser):
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def test_every_command_is_reachable():
    assert {"demo", "train lm", "train tagger", "train classifier", "train forecaster", "train seq2seq", "generate",
            "evaluate", "tag", "classify", "forecast", "translate", "memory", "diagnose", "gradcheck"} <= set(LEAVES)


def test_one_spelling_per_concept_and_one_concept_per_spelling():
    spellings, meanings = {}, {}
    for command, parser in LEAVES.items():
        for action in options(parser):
            long = [s for s in action.option_strings if s.startswith("--") and not s.startswith("--no-")]
            spellings.setdefault(action.dest, set()).update(long)
            for option in long:
                meanings.setdefault(option, set()).add(action.dest)
    assert {dest: s for dest, s in spellings.items() if len(s) > 1} == {}
    assert {option: d for option, d in meanings.items() if len(d) > 1} == {}
    used = set(meanings)
    assert [group & used for group in SYNONYMS if len(group & used) > 1] == []


def test_catalogue_flags_keep_their_catalogue_spelling():
    for command, parser in LEAVES.items():
        for action in options(parser):
            if action.dest in flags.CATALOGUE:
                assert flags.CATALOGUE[action.dest][0] in action.option_strings, (command, action.option_strings)


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_help_explains_every_option_and_shows_defaults(command):
    parser = LEAVES[command]
    text = parser.format_help()
    assert "%%" not in text and "%(" not in text
    for action in options(parser):
        assert action.help, (command, action.option_strings)
        if action.default is not None and action.default is not False and action.nargs != 0:
            assert "default" in flags.HelpFormatter("x")._get_help_string(action), (command, action.option_strings)


@pytest.mark.parametrize("command", sorted(set(LEAVES) - CPU_ONLY - {"train"}))
def test_every_command_that_runs_a_model_takes_device_and_threads(command):
    dests = {a.dest for a in options(LEAVES[command])}
    assert {"device", "threads"} <= dests


@pytest.mark.parametrize("command", sorted(c for c in LEAVES if c.startswith("train ")) + ["demo"])
def test_every_train_command_reaches_every_trainconfig_field(command):
    from rnnkit.train import TrainConfig

    renamed = {"early_stopping_patience": "patience", "max_time": "minutes", "progress": "quiet",
               "early_stopping_metric": "select"}
    dests = {a.dest for a in options(LEAVES[command])}
    needed = {renamed.get(f.name, f.name) for f in dataclasses.fields(TrainConfig)}
    follows = {"select"}        # --patience watches what --select keeps; commands that keep no best by a metric: the loss
    assert needed - dests - follows == set()


def test_cli_names_match_the_library():
    from rnnkit.cli.memory import CELLS, MEMORY_TASKS
    from rnnkit.data.synthetic import TASKS
    from rnnkit.tasks import memory
    from rnnkit.train import config

    assert (flags.OPTIMIZERS, flags.SCHEDULES, flags.PRECISIONS) == (config.OPTIMIZERS, config.SCHEDULES,
                                                                    config.PRECISIONS)
    assert flags.CATALOGUE["select"][1]["choices"] == tuple(config.MONITORED)    # --select is --patience's metric
    assert MEMORY_TASKS == TASKS and CELLS == tuple(memory.CELLS)


def test_help_and_version_do_not_import_torch():
    """What makes ``rnnkit --help`` answer at once (about 0.2 s; the figure is in BENCHMARKS.md)."""
    probe = ("import sys, io, contextlib\nfrom rnnkit.cli.main import main\n"
             "for argv in (['--help'], ['--version'], ['train', 'lm', '--help'], ['demo', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        main(argv)\n"
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_python_dash_m_and_version(capsys):
    from rnnkit import __version__

    result = subprocess.run([sys.executable, "-m", "rnnkit", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"rnnkit {__version__}"


@pytest.mark.parametrize("argv, message", [
    (["generate", "x", "--temperature", "inf"], "--temperature: expected a finite positive number, got 'inf'"),
    (["generate", "x", "--temperature", "0"], "--temperature: expected a finite positive number"),
    (["generate", "x", "--length", "-3"], "--length: expected a positive integer, got '-3'"),
    (["demo", "--poems", "-1"], "--poems: expected a positive integer"),
    (["demo", "--minutes", "nan"], "--minutes: expected a finite positive number, got 'nan'"),
    (["demo", "--seed", str(2 ** 70)], "--seed: expected an integer in [0, 2**32)"),
    (["train", "lm", "--corpus", "poems", "--encoding", "utf8-typo"], "--encoding: expected one of Python's standard"),
    (["train", "lm", "--corpus", "poems", "--sample-length", "-3"], "--sample-length: expected an integer >= 0"),
    (["train", "lm", "--corpus", "poems", "--device", "tpu"], "--device: expected cpu, cuda, cuda:N or mps"),
    (["train", "lm", "--corpus", "poems", "--hidden", "8"], "unrecognized arguments: --hidden 8"),
    (["memory", "--dropout", "2"], "unrecognized arguments"),
])
def test_bad_flag_values_stop_before_any_work(argv, message, capsys):
    from rnnkit.cli.main import main

    assert main(argv) == 2 and message in capsys.readouterr().err
