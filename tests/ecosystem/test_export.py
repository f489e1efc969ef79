"""``torch.export.export`` captures every layer configuration, with and without lengths, and the
exported program computes what the eager layer computes, for other inputs and other lengths too."""
import pytest
import torch

import rnnkit

from ecocases import LAYER_IDS, LAYERS, LENGTHS, B, I, T, assert_same_result, random_state


@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("layer_class,options", LAYERS, ids=LAYER_IDS)
def test_exported_program_equals_eager(layer_class, options, padded):
    layer = layer_class(I, 6, **options).eval()
    if padded:
        example = (torch.randn(B, T, I), random_state(layer), torch.tensor(LENGTHS))
        other = (torch.randn(B, T, I), random_state(layer), torch.tensor([2, T, 1]))   # lengths are data
    else:
        example, other = (torch.randn(B, T, I),), (torch.randn(B, T, I),)
    program = torch.export.export(layer, example).module()
    for args in (example, other):
        assert_same_result(program(*args), layer(*args))


@pytest.mark.parametrize("make", [lambda: rnnkit.Bidirectional(rnnkit.LSTM(I, 6, peephole=True), merge="sum"),
                                  lambda: rnnkit.RNN(rnnkit.GRUCell(I, 6, layer_norm=True), reverse=True)],
                         ids=["Bidirectional", "RNN-reverse"])
def test_wrappers_export_with_lengths(make):
    module = make().eval()
    example = (torch.randn(B, T, I), None, torch.tensor(LENGTHS))
    other = (torch.randn(B, T, I), None, torch.tensor([1, T, 3]))
    program = torch.export.export(module, example).module()
    for args in (example, other):
        torch.testing.assert_close(program(*args)[0], module(*args)[0], atol=1e-5, rtol=0)
