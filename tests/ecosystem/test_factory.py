"""``device=`` / ``dtype=`` on every cell and layer, as torch.nn: the parameters are created there,
on the meta device without storage, and ``to_empty`` + ``reset_parameters`` make them real."""
import pytest
import torch

import rnnkit
from rnnkit.cells.base import state_leaves

from ecocases import LAYER_IDS, LAYERS, I

CELLS = [(rnnkit.SimpleRNNCell, {}), (rnnkit.LSTMCell, {"peephole": True, "layer_norm": True, "proj_size": 3}),
         (rnnkit.GRUCell, {"layer_norm": True, "reset_after": False})]


@pytest.mark.parametrize("module_class,options", CELLS + LAYERS,
                         ids=[c.__name__ for c, _ in CELLS] + LAYER_IDS)
def test_meta_construction_then_to_empty(module_class, options):
    module = module_class(I, 6, device="meta", **options)
    assert {p.device.type for p in module.parameters()} == {"meta"}
    module.to_empty(device="cpu")
    module.reset_parameters()
    reference = module_class(I, 6, **options)
    for (name, got), (_, want) in zip(module.named_parameters(), reference.named_parameters(), strict=True):
        assert got.device.type == "cpu" and got.shape == want.shape, name
        if ".ln_" not in f".{name}":
            assert got.abs().max() <= 1.0 / 6 ** 0.5, name                 # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
        else:
            assert torch.equal(got, want), name                              # gains 1, shifts 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dtype_creates_parameters_and_zero_states_in_it(dtype):
    layer = rnnkit.LSTM(I, 6, num_layers=2, bidirectional=True, peephole=True, dtype=dtype)
    cell = rnnkit.GRUCell(I, 6, dtype=dtype)
    assert {p.dtype for p in [*layer.parameters(), *cell.parameters()]} == {dtype}
    assert cell.init_state(2).dtype == dtype
    y, final = layer(torch.randn(2, 5, I, dtype=dtype), lengths=[5, 2])
    assert y.dtype == final.c.dtype == dtype


@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("layer_class,options", LAYERS, ids=LAYER_IDS)
def test_meta_layer_on_meta_input_gives_the_shapes(layer_class, options, padded):
    layer = layer_class(I, 6, device="meta", **options).eval()
    lengths = torch.tensor([5, 2, 4], device="meta") if padded else None
    y, final = layer(torch.empty(3, 5, I, device="meta"), lengths=lengths)
    real = layer_class(I, 6, **options).eval()
    y_real, final_real = real(torch.zeros(3, 5, I), lengths=None if lengths is None else [5, 2, 4])
    assert y.is_meta and y.shape == y_real.shape
    for leaf, leaf_real in zip(state_leaves(final), state_leaves(final_real), strict=True):
        assert leaf.is_meta and leaf.shape == leaf_real.shape
