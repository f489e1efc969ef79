"""The language model's AWD-LSTM regularisers: off by default (today's model bit for bit, old configs load),
AR / TAR in the training loss only, locked and embedding dropout, DropConnect on the fused path."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.streams import Batch
from rnnkit.tasks import LanguageModel, LanguageModelConfig

NEW_FIELDS = ("embedding_dropout", "locked_dropout", "weight_drop", "ar", "tar")


def model_of(**options):
    torch.manual_seed(0)
    return LanguageModel(LanguageModelConfig(vocab_size=11, embed_size=6, hidden_size=8, layers=2, **options))


def batch():
    generator = torch.Generator().manual_seed(1)
    return Batch(torch.randint(0, 11, (3, 7), generator=generator), torch.randint(0, 11, (3, 7), generator=generator),
                 0, 7)


def test_an_old_config_loads_and_the_defaults_are_the_old_model():
    old = {k: v for k, v in dataclasses.asdict(LanguageModelConfig(vocab_size=11, dropout=0.3)).items()
           if k not in NEW_FIELDS}
    assert LanguageModelConfig.from_dict(old) == LanguageModelConfig(vocab_size=11, dropout=0.3)
    model = model_of(dropout=0.3).train()
    b = batch()
    torch.manual_seed(5)
    got = model.loss(b).loss
    torch.manual_seed(5)                            # the model before the regularisers, written out
    hidden, _ = model.rnn(F.dropout(model.embedding(b.x), 0.3, True))
    logits = F.linear(F.dropout(hidden, 0.3, True), model.output_weight, model.output_bias)
    assert torch.equal(got, F.cross_entropy(logits.reshape(-1, 11), b.y.reshape(-1)))
    regularised = model_of(weight_drop=0.5, locked_dropout=True, embedding_dropout=0.1)
    assert list(model.state_dict()) == list(regularised.state_dict())


def test_ar_and_tar_join_the_training_loss_only():
    model = model_of(ar=2.0, tar=0.5)
    b = batch()
    hidden, _ = model.rnn(model.embed(b.x))                              # (B, T, R); no dropout
    nll = F.cross_entropy(model.logits(hidden).reshape(-1, 11), b.y.reshape(-1))
    penalties = 2.0 * hidden.pow(2).mean() + 0.5 * (hidden[:, 1:] - hidden[:, :-1]).pow(2).mean()
    torch.testing.assert_close(model.train().loss(b).loss, nll + penalties)
    torch.testing.assert_close(model.eval().loss(b).loss, nll)


def test_locked_embedding_dropout_and_weight_drop_in_the_model():
    model = model_of(dropout=0.5, locked_dropout=True, embedding_dropout=0.5, weight_drop=0.3).train()
    assert model.rnn.fast_path.startswith("fused") and model.rnn.weight_drop == 0.3
    x = torch.arange(11).repeat(4, 3)                                    # (4, 33): every token thrice a row
    torch.manual_seed(2)
    e = model.embed(x)                                                   # (B, T, E)
    torch.manual_seed(2)
    rows = torch.empty(11, 1).bernoulli_(0.5).mul_(2.0)                  # one draw per token id
    locked = torch.empty(4, 1, 6).bernoulli_(0.5).mul_(2.0)              # one mask per sequence
    torch.testing.assert_close(e, model.embedding.weight[x] * rows[x] * locked)
    assert model.loss(batch()).loss.isfinite()


@pytest.mark.parametrize("field, value", [("weight_drop", 1.0), ("embedding_dropout", -0.1), ("ar", -1.0),
                                          ("tar", float("inf")), ("locked_dropout", "yes")])
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}: "):
        LanguageModelConfig(vocab_size=11, **{field: value})
