"""``torch.compile`` traces every layer call in one graph: no graph breaks for the standard LSTM
with lengths (10 before) and the variant cells (19-34 before); the compiled layer trains as the eager one.

Counted with ``torch._dynamo.explain`` (tracing only, no code generation); the one compiled run
uses the ``aot_eager`` backend, which traces the backward pass too but generates no code (inductor
would cost tens of seconds a case on the CI's two cores).
"""
import pytest
import torch

import rnnkit
from rnnkit.cells.base import state_leaves

from ecocases import LENGTHS, B, I, T, assert_same_result, random_state

MAX_GRAPH_BREAKS = 0
BREAK_CASES = [
    (rnnkit.LSTM, {"num_layers": 2, "bidirectional": True, "dropout": 0.2}),
    (rnnkit.LSTM, {"peephole": True, "proj_size": 3}),
    (rnnkit.LSTM, {"layer_norm": True, "recurrent_dropout": 0.3}),
    (rnnkit.GRU, {"reset_after": False, "zoneout": 0.2}),
    (rnnkit.SimpleRNN, {"nonlinearity": "softsign"}),
]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("layer_class,options", BREAK_CASES,
                         ids=[f"{c.__name__}-{','.join(o)}" for c, o in BREAK_CASES])
def test_no_graph_breaks_with_lengths_and_the_value_checks_on(layer_class, options, training):
    torch._dynamo.reset()
    layer = layer_class(I, 6, **options).train(training)
    with rnnkit.set_checks(True):                                      # never runs under compile
        explained = torch._dynamo.explain(layer)(torch.randn(B, T, I, requires_grad=True), random_state(layer),
                                                 torch.tensor(LENGTHS))
    reasons = [b.reason.splitlines()[0] for b in explained.break_reasons]
    assert explained.graph_break_count <= MAX_GRAPH_BREAKS, reasons
    assert explained.graph_count == 1


def test_compiled_layer_trains_as_the_eager_layer():
    """Outputs, final state and every gradient, with lengths the compiled graph has not seen (float64:
    the graph runs the per-step loop, the eager layer its BPTT kernel)."""
    torch._dynamo.reset()
    layer = rnnkit.LSTM(I, 6, num_layers=2, layer_norm=True, dtype=torch.float64)
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    for lengths in (LENGTHS, [1, T, 3]):
        x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
        state = random_state(layer, dtype=torch.float64)
        results = []
        for run in (compiled, layer):
            y, final = run(x, state, torch.tensor(lengths))
            loss = y.square().sum() + sum(leaf.sum() for leaf in state_leaves(final))
            results.append(((y, final), torch.autograd.grad(loss, [x, *layer.parameters()])))
        (got, got_grads), (want, want_grads) = results
        assert_same_result(got, want, atol=1e-10)
        for g, w in zip(got_grads, want_grads, strict=True):
            torch.testing.assert_close(g, w, atol=1e-10, rtol=0)
