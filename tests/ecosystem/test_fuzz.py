"""Property-based fuzzing of the input checks: every call of a cell or a layer, with inputs right or
wrong in shape, dtype, device, lengths or state, ends in the right result or a ValueError, never in
another exception. The drawing knows which inputs are right: those must run and equal the per-step
loop (``force_loop``), the others must raise ValueError naming the argument."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit import kernels
from rnnkit.cells.base import state_leaves

I, H = 3, 4
SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
OPTIONS = {
    "LSTM": [{}, {"peephole": True}, {"layer_norm": True}, {"coupled": True}, {"forget_gate": False},
             {"proj_size": 2}, {"recurrent_activation": "hard_sigmoid"}, {"zoneout": 0.3}],
    "GRU": [{}, {"reset_after": False}, {"layer_norm": True}, {"recurrent_dropout": 0.3}],
    "SimpleRNN": [{}, {"nonlinearity": "relu"}, {"zoneout": 0.2}],
}
DTYPES = [torch.float32] * 6 + [torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


def tensor(draw, shape, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    return torch.randn(shape, generator=gen).to(dtype)


def lengths_case(draw, batch, time):
    """``(lengths, valid)``: None, a valid list or tensor, or a wrong one."""
    kind = draw(st.sampled_from(["none", "list", "tensor", "tensor", "zero", "long", "count", "hole", "float"]))
    valid = draw(st.lists(st.integers(1, time), min_size=batch, max_size=batch))
    wrong = {"zero": [0, *valid[1:]], "long": [time + 1, *valid[1:]], "count": valid + [1],
             "hole": [None, *valid[1:]], "float": torch.tensor(valid, dtype=torch.float32)}
    if kind in wrong:
        return wrong[kind], False
    return {"none": None, "list": valid, "tensor": torch.tensor(valid)}[kind], True


def state_case(draw, sizes, leading):
    """``(state, valid)`` for a cell's ``state_size``: None, right (LSTM also as a plain tuple or list),
    or of another shape, dtype or structure."""
    kind = draw(st.sampled_from(["none", "right", "right", "pair", "shape", "dtype", "structure"]))
    leaves = [tensor(draw, (*leading, size)) for size in ([sizes] if isinstance(sizes, int) else sizes)]
    right = leaves[0] if isinstance(sizes, int) else type(sizes)(*leaves)
    if kind == "none":
        return None, True
    if kind == "right" or (kind == "pair" and isinstance(sizes, int)):
        return right, True
    if kind == "pair":
        return draw(st.sampled_from([tuple, list]))(leaves), True
    wrong = {"shape": [leaves[0][..., :1], *leaves[1:]], "dtype": [*leaves[:-1], leaves[-1].double()]}.get(kind)
    if wrong is None:                                                   # another structure
        return (tuple(leaves) if isinstance(sizes, int) else leaves[0]), False
    return (wrong[0] if isinstance(sizes, int) else type(sizes)(*wrong)), False


@st.composite
def layer_calls(draw):
    kind = draw(st.sampled_from(sorted(OPTIONS)))
    options = dict(draw(st.sampled_from(OPTIONS[kind])), num_layers=draw(st.integers(1, 2)),
                   bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()))
    layer = getattr(rnnkit, kind)(I, H, **options).eval()
    batch, time = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    feature = draw(st.sampled_from([I, I, I, I + 1]))
    dtype = draw(st.sampled_from(DTYPES))
    shape = (batch, time, feature) if layer.batch_first else (time, batch, feature)
    x = tensor(draw, shape if draw(st.integers(0, 9)) else shape[1:], dtype)
    lengths, lengths_valid = lengths_case(draw, batch, time)
    state, state_valid = state_case(draw, layer.cells[0].state_size, (len(layer.cells), batch))
    valid = lengths_valid and state_valid and x.dim() == 3 and feature == I and dtype == torch.float32
    return layer, x, state, lengths, valid


@st.composite
def cell_calls(draw):
    kind = draw(st.sampled_from(sorted(OPTIONS)))
    options = {k: v for k, v in draw(st.sampled_from(OPTIONS[kind])).items()
               if k not in ("zoneout", "recurrent_dropout")}                     # layer options
    cell = getattr(rnnkit, f"{kind}Cell")(I, H, **options)
    batch, feature = draw(st.integers(1, 3)), draw(st.sampled_from([I, I, I, I + 1]))
    dtype = draw(st.sampled_from(DTYPES))
    state, state_valid = state_case(draw, cell.state_size, (batch,))
    return cell, tensor(draw, (batch, feature), dtype), state, state_valid and feature == I and dtype == torch.float32


@SETTINGS
@given(call=layer_calls())
def test_layer_calls_give_the_loop_result_or_a_value_error(call):
    layer, x, state, lengths, valid = call
    if not valid:
        with pytest.raises(ValueError, match=r"^(x|state(\.[hc])?|lengths): "):
            layer(x, state, lengths)
        return
    y, final = layer(x, state, lengths)
    with kernels.force_loop():
        y_loop, final_loop = layer(x, state, lengths)
    torch.testing.assert_close(y, y_loop, atol=1e-5, rtol=0)
    for leaf, leaf_loop in zip(state_leaves(final), state_leaves(final_loop), strict=True):
        torch.testing.assert_close(leaf, leaf_loop, atol=1e-5, rtol=0)
    batch_axis = 0 if layer.batch_first else 1
    assert y.shape == (*x.shape[:2], layer.num_directions * layer.output_size)
    assert all(leaf.shape[:2] == (len(layer.cells), x.shape[batch_axis]) for leaf in state_leaves(final))


@SETTINGS
@given(call=cell_calls())
def test_cell_calls_give_a_step_or_a_value_error(call):
    cell, x_t, state, valid = call
    if not valid:
        with pytest.raises(ValueError, match=r"^(x_t|state(\.[hc])?): "):
            cell(x_t, state)
        return
    y, new_state = cell(x_t, state)
    start = cell.init_state(x_t.shape[0]) if state is None else state
    y_step, _ = cell.step(cell.project_input(x_t), type(cell.state_size)(*start) if isinstance(start, list) else start)
    torch.testing.assert_close(y, y_step, atol=1e-6, rtol=0)
    assert type(new_state) is type(cell.init_state(1))
