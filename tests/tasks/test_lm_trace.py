"""The language-model tracer: what it reads equals the model's own forward pass; what it writes is what
generate_text writes with the same seed, and reads back to the same activations."""
import pytest
import torch

from rnnkit.data import Vocabulary
from rnnkit.data.streams import Batch
from rnnkit.diagnostics import gradient_flow
from rnnkit.tasks import LanguageModel, LanguageModelConfig, generate_text
from rnnkit.tasks.lm_trace import LanguageModelTracer

TEXT = 'the cat said "hello" (twice)\nthe dog said "bye"\n' * 4


@pytest.fixture(params=["lstm", "gru"])
def tracer(request):
    vocab = Vocabulary.build(TEXT, "char")
    model = LanguageModel(LanguageModelConfig(len(vocab), cell=request.param, embed_size=8, hidden_size=12, layers=2))
    return LanguageModelTracer(model.eval(), vocab)


def test_read_equals_the_forward_pass(tracer):
    trace = tracer.read("the cat said")
    model = tracer.model
    with torch.no_grad():
        logits, _ = model(trace.tokens[None])                                    # (1, T, K)
        hidden, _ = model.rnn(model.embed(trace.tokens[None]))
    assert "".join(trace.pieces) == "the cat said" and len(trace) == 12 and trace.generated == [False] * 12
    torch.testing.assert_close(trace.gates[-1]["h"], hidden[0])
    values, ids = logits[0].softmax(-1).topk(5)
    assert [[t for t, _ in row] for row in trace.top] == [tracer.vocab.lookup(row) for row in ids]
    torch.testing.assert_close(torch.tensor([[p for _, p in row] for row in trace.top]), values)
    assert [list(layer) for layer in tracer.layers] == [list(g) for g in trace.gates]
    assert all(trace.gates[k][name].shape == (12, spec["width"])
               for k, layer in enumerate(tracer.layers) for name, spec in layer.items())


def test_unknown_characters_are_read_as_unk_and_shown_as_typed(tracer):
    trace = tracer.read("cat☃")
    assert trace.pieces == ["c", "a", "t", "☃"] and int(trace.tokens[-1]) == tracer.vocab.unk_id


def test_write_is_generate_text_with_the_same_seed_and_reads_back_the_same(tracer):
    steps = list(tracer.write("the ", 30, temperature=0.8, top_k=10, seed=7))
    assert steps[0].pieces == list("the ") and all(len(s) == 1 and s.generated == [True] for s in steps[1:])
    written = "".join(p for s in steps[1:] for p in s.pieces)
    assert written == "".join(generate_text(tracer.model, tracer.vocab, "the ", 30, temperature=0.8, top_k=10, seed=7))
    again = tracer.read("the " + written)
    for k, layer in enumerate(again.gates):
        for name, values in layer.items():
            streamed = torch.cat([s.gates[k][name] for s in steps])
            torch.testing.assert_close(streamed, values, atol=1e-5, rtol=1e-4)
    for step, row in zip(steps[1:], again.top[4:]):
        assert [t for t, _ in step.top[0]] == [t for t, _ in row]
        assert [p for _, p in step.top[0]] == pytest.approx([p for _, p in row], abs=1e-5)


def test_write_never_writes_unk_and_checks_its_arguments(tracer):
    steps = list(tracer.write("t", 40, temperature=5.0, seed=0))
    assert all(int(s.tokens[0]) != tracer.vocab.unk_id for s in steps[1:])
    with pytest.raises(ValueError, match="length: expected a non-negative integer"):
        next(tracer.write("t", -1))
    with pytest.raises(ValueError, match="temperature"):
        next(tracer.write("t", 3, temperature=0.0))
    with pytest.raises(ValueError, match="text: expected at least one token"):
        next(tracer.write("", 3))


def test_gradient_flow_is_diagnostics_gradient_flow_of_the_text(tracer):
    pieces, flow = tracer.gradient_flow("the cat said")
    ids = tracer.vocab.encode("the cat said")
    batch = Batch(ids[None, :-1], ids[None, 1:])
    expected = gradient_flow(tracer.model.rnn, tracer.model.embed(batch.x),
                             lambda outputs: tracer.model.step_losses(outputs, batch))
    assert pieces == list("the cat sai") and flow.norms.shape == (2, 11, 11)
    torch.testing.assert_close(flow.norms, expected.norms)
    last, tail = tracer.gradient_flow("the cat said", last=4)
    assert last == list(" sai")
    assert tail.norms.shape == (2, 4, 4)


def test_rank_units_covers_every_layer_and_gate(tracer):
    ranking = tracer.rank_units(TEXT, rows=2, length=40)
    assert set(ranking) == {(k, name) for k, layer in enumerate(tracer.layers) for name in layer}
    for (k, name), scores in ranking.items():
        assert sorted(s.unit for s in scores) == list(range(tracer.layers[k][name]["width"]))
        assert [abs(s.r) for s in scores] == sorted((abs(s.r) for s in scores), reverse=True)
