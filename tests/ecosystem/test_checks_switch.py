"""The value checks (NaN / Inf) are opt-in: ``rnnkit.set_checks``, as a call or a context manager,
or ``RNNKIT_CHECKS=1``; they never run under torch.compile / torch.export."""
import subprocess
import sys

import pytest
import torch

import rnnkit
from rnnkit import _checks


@pytest.fixture
def nan_x():
    x = torch.randn(2, 5, 3)
    x[1, 4, 0] = float("nan")
    return x


def test_off_by_default_a_call_turns_it_on_a_block_restores_it(nan_x):
    layer = rnnkit.LSTM(3, 4)
    assert not _checks.values_checked()
    layer(nan_x)
    with rnnkit.set_checks(True):
        with pytest.raises(ValueError, match="x: contains NaN"):
            layer(nan_x)
        with rnnkit.set_checks(False):
            layer(nan_x)
        assert _checks.values_checked()
    layer(nan_x)
    try:
        rnnkit.set_checks(True)
        with pytest.raises(ValueError, match="x: contains NaN"):
            layer(nan_x)
    finally:
        rnnkit.set_checks(False)
    with pytest.raises(ValueError, match="enabled: expected True or False, got 'yes'"):
        rnnkit.set_checks("yes")


def test_environment_variable_turns_it_on():
    code = ("import torch, rnnkit\nx = torch.full((1, 2, 3), float('inf'))\n"
            "try:\n    rnnkit.GRU(3, 4)(x)\nexcept ValueError as err:\n    print(err)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "RNNKIT_CHECKS": "1"}).stdout
    assert out.startswith("x: contains Inf")


def test_never_under_export_or_compile(nan_x):
    layer = rnnkit.GRU(3, 4, layer_norm=True).eval()
    with rnnkit.set_checks(True):
        program = torch.export.export(layer, (torch.randn(2, 5, 3),)).module()
        compiled = torch.compile(layer, backend="eager", fullgraph=True)
        for run in (program, compiled):
            assert torch.isnan(run(nan_x)[0]).any()
