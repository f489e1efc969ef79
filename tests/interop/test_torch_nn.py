"""torch.nn.RNN / LSTM / GRU <-> rnnkit layers, and whole-model state dicts in torch.nn's keys."""
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.interop import from_torch, to_torch, torch_state_dict
from rnnkit.keras import layers, models

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

MODULES = [
    lambda: nn.RNN(3, 5, num_layers=2, nonlinearity="relu", batch_first=True),
    lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True),
    lambda: nn.LSTM(3, 5, proj_size=2, batch_first=True),
    lambda: nn.GRU(3, 5, bias=False, batch_first=True),
    lambda: nn.GRU(3, 5, bidirectional=True),                   # time-major
]


@pytest.mark.parametrize("make", MODULES)
def test_round_trip_gives_the_same_outputs(make):
    module = make()
    layer = from_torch(module)
    x = torch.randn(4, 6, 3)
    expected, expected_state = module(x)
    got, got_state = layer(x)
    assert torch.allclose(expected, got, atol=1e-6)
    for e, g in zip(expected_state if isinstance(expected_state, tuple) else [expected_state],
                    got_state if isinstance(got_state, tuple) else [got_state]):
        assert torch.allclose(e, g, atol=1e-6)
    back = to_torch(layer)
    assert type(back) is type(module)
    assert torch.allclose(back(x)[0], expected, atol=1e-6)
    for name, tensor in module.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor)


def test_variants_torch_cannot_compute_are_refused():
    with pytest.raises(ValueError, match="layer_norm=True"):
        to_torch(rnnkit.LSTM(3, 4, layer_norm=True))
    with pytest.raises(ValueError, match="reset_after=False"):
        to_torch(rnnkit.GRU(3, 4, reset_after=False))
    with pytest.raises(ValueError, match="nonlinearity='softsign'"):
        to_torch(rnnkit.SimpleRNN(3, 4, nonlinearity="softsign"))
    with pytest.raises(ValueError, match="expected torch.nn.RNN, LSTM or GRU"):
        from_torch(nn.Linear(3, 4))


def test_whole_model_state_dict_loads_into_a_torch_twin():
    class Tagger(nn.Module):
        def __init__(self, recurrent: nn.Module):
            super().__init__()
            self.recurrent, self.head = recurrent, nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.recurrent(x)[0])

    ours = Tagger(rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True))
    twin = Tagger(nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True))
    twin.load_state_dict(torch_state_dict(ours), strict=True)
    x = torch.randn(2, 5, 3)
    assert torch.allclose(ours(x), twin(x), atol=1e-6)


def test_keras_front_layers_export_their_fixed_zero_biases():
    """Keras' single LSTM bias is bias_ih; bias_hh is a zero buffer the torch twin still needs."""
    model = models.Sequential([layers.Input((5, 3)), layers.LSTM(4, return_sequences=True)])
    core = model.layers[0].cell.core
    state = torch_state_dict(core)
    assert torch.equal(state["bias_hh_l0"], torch.zeros(16))
    torch_lstm = nn.LSTM(3, 4, batch_first=True)
    torch_lstm.load_state_dict(state, strict=True)
    x = torch.randn(2, 5, 3)
    assert torch.allclose(model(x), torch_lstm(x)[0], atol=1e-6)
    assert torch.allclose(to_torch(core)(x)[0], torch_lstm(x)[0])
