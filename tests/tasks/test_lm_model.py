import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit import LSTMState
from rnnkit.data import StreamBatches
from rnnkit.tasks import LanguageModel, LanguageModelConfig, perplexity_metrics


def make_model(cell="lstm", **options):
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=11, cell=cell, embed_size=6, hidden_size=8, layers=2, **options)
    return LanguageModel(config).eval()


@pytest.mark.parametrize("cell", ["srn", "lstm", "gru"])
def test_shapes_and_stateful_continuation(cell):
    model = make_model(cell)
    x = torch.randint(0, 11, (3, 7))
    logits, state = model(x)
    assert logits.shape == (3, 7, 11)
    h = state.h if isinstance(state, LSTMState) else state
    assert h.shape == (2, 3, 8)
    head, carry = model(x[:, :4])
    tail, final = model(x[:, 4:], carry)
    torch.testing.assert_close(torch.cat([head, tail], 1), logits)


@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
def test_diagnostics_hooks_give_the_per_step_losses_of_loss(tie):
    """rnn_input / step_losses (rnnkit.diagnostics' hooks) recompute the loss step by step."""
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=11, embed_size=8, hidden_size=8, tie_weights=tie)).eval()
    batch = type("B", (), {"x": torch.randint(0, 11, (3, 6)), "y": torch.randint(0, 11, (3, 6))})()
    outputs, _ = model.rnn(model.rnn_input(batch))                             # (B, T, R)
    per_step = model.step_losses(outputs, batch)
    assert per_step.shape == (3, 6)
    torch.testing.assert_close(per_step.mean(), model.loss(batch).loss)
    logits, _ = model(batch.x)
    torch.testing.assert_close(per_step[1, 4], F.cross_entropy(logits[1, 4], batch.y[1, 4]))


def test_loss_is_cross_entropy_computed_by_hand():
    model = make_model("gru")
    x, y = torch.randint(0, 11, (2, 5)), torch.randint(0, 11, (2, 5))
    out = model.loss(type("B", (), {"x": x, "y": y})())
    logits, state = model(x)
    log_probs = logits - logits.exp().sum(-1, keepdim=True).log()              # log softmax by hand
    expected = -sum(log_probs[b, t, y[b, t]] for b in range(2) for t in range(5)) / 10
    torch.testing.assert_close(out.loss, expected)
    assert out.count == 10
    torch.testing.assert_close(out.state, state)


def test_loss_honours_loss_from_and_state_at_of_bptt_windows():
    model = make_model("lstm")
    ids = torch.randint(0, 11, (200,))
    batches = list(StreamBatches(ids, batch_size=2, seq_len=5, bptt=8))
    batch = batches[3]                                       # window of 8 steps, loss on the last 5
    assert batch.loss_from == 3
    start_state = model(batch.x[:, :1])[1]
    out = model.loss(batch, start_state)
    logits, _ = model(batch.x, start_state)
    expected = F.cross_entropy(logits[:, 3:].reshape(-1, 11), batch.y[:, 3:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    assert out.count == 10
    _, state_at = model(batch.x[:, :batch.state_at], start_state)
    torch.testing.assert_close(out.state, state_at)


def test_state_at_zero_carries_the_incoming_state():
    model = make_model("gru")
    batch = next(iter(StreamBatches(torch.randint(0, 11, (200,)), batch_size=2, seq_len=4, bptt=12)))
    assert batch.state_at == 0                               # the next window starts at step 0 again
    assert model.loss(batch).state is None
    start = torch.randn(2, 2, 8)
    assert model.loss(batch, start).state is start


def test_weight_tying_shares_the_embedding():
    tied = LanguageModel(LanguageModelConfig(vocab_size=11, embed_size=8, hidden_size=8, layers=1, tie_weights=True))
    untied = LanguageModel(LanguageModelConfig(vocab_size=11, embed_size=8, hidden_size=8, layers=1))
    assert tied.output_weight is None and tied.decoder_weight is tied.embedding.weight
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == 11 * 8
    assert "output_weight" not in tied.state_dict()
    x = torch.randint(0, 11, (2, 4))
    logits, _ = tied(x)
    logits[..., 3].sum().backward()
    assert tied.embedding.weight.grad[3].abs().sum() > 0     # through V, even if token 3 is not in x
    with pytest.raises(ValueError, match="embed_size must equal the recurrent output size 16"):
        LanguageModelConfig(vocab_size=11, embed_size=8, hidden_size=16, tie_weights=True)
    LanguageModelConfig(vocab_size=11, embed_size=8, hidden_size=16, tie_weights=True,
                        cell_options={"proj_size": 8})


def test_config_checks_and_dict_round_trip():
    config = LanguageModelConfig(vocab_size=5, cell="gru", dropout=0.2, cell_options={"layer_norm": True})
    assert LanguageModelConfig.from_dict(dataclasses.asdict(config)) == config
    with pytest.raises(ValueError, match="cell: expected one of srn, lstm, gru"):
        LanguageModelConfig(vocab_size=5, cell="rnn")
    with pytest.raises(ValueError, match="unknown LanguageModelConfig fields"):
        LanguageModelConfig.from_dict({"vocab_size": 5, "colour": 1})
    with pytest.raises(ValueError, match="x: expected a LongTensor"):
        make_model()(torch.zeros(2, 3))


def test_perplexity_metrics():
    m = perplexity_metrics(math.log(4))
    assert m["bits"] == pytest.approx(2.0) and m["perplexity"] == pytest.approx(4.0)
