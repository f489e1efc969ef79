"""The compiled step loops (kernels/native.py) equal the torch loops; building them is optional."""
import pytest
import torch

import rnnkit
from rnnkit.kernels import native, run_cell

from kernelcases import (LENGTHS, VARIANT_IDS, VARIANTS, B, T, grads_of, loss_weights, make_cell, random_state,
                         recurrent_mask, use_engine, weighted_loss)


def run(kind, options, engine, monkeypatch, dtype):
    use_engine(engine, monkeypatch)
    torch.manual_seed(3)
    cell = make_cell(kind, options, dtype=dtype, hidden_size=20)
    x = torch.randn(B, T, cell.input_size, dtype=dtype, requires_grad=True)
    state = random_state(cell)
    mask = recurrent_mask(cell, dtype)
    torch.manual_seed(4)
    y, final = run_cell(cell, x, state, torch.tensor(LENGTHS), recurrent_mask=mask, zoneout=0.25, training=True)
    grads = grads_of(weighted_loss(y, final, loss_weights(y, final)), cell, x, state)
    return y, grads


@pytest.mark.parametrize("kind,options", VARIANTS, ids=VARIANT_IDS)
def test_native_float32_loops_equal_torch_loops(kind, options, monkeypatch):
    if native.load(build=False) is None:
        pytest.skip("native loops not built")
    y_native, g_native = run(kind, options, "native", monkeypatch, torch.float32)
    y_torch, g_torch = run(kind, options, "torch", monkeypatch, torch.float32)
    torch.testing.assert_close(y_native, y_torch, atol=1e-5, rtol=0)
    for name, want in g_torch.items():                     # float32 sums: tolerance per tensor scale
        torch.testing.assert_close(g_native[name], want, atol=1e-5 * (1.0 + want.abs().max().item()), rtol=0,
                                   msg=name)


def test_native_loops_are_not_used_where_they_do_not_apply(monkeypatch):
    monkeypatch.setenv(native.ENV, "0")
    assert native.loops_for(torch.zeros(1)) is None                        # switched off
    monkeypatch.setenv(native.ENV, "1")
    assert native.loops_for(torch.zeros(1, dtype=torch.float16)) is None   # half precision: torch loops
    assert native.loops_for(torch.zeros(1, device="meta")) is None          # not CPU


@pytest.mark.slow
def test_native_build():
    """Builds the loops if needed (a minute or more) and runs one kernel through them."""
    module = native.load()
    if module is None:
        pytest.skip("no C++ toolchain or BLAS symbols here: the torch loops run instead")
    layer = rnnkit.GRU(3, 4, layer_norm=True)
    y, _ = layer(torch.randn(2, 5, 3))
    y.sum().backward()
    assert layer.cells[0].weight_hh.grad is not None
