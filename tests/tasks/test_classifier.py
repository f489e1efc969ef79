"""The classifier: every pooling ignores padding, it overfits real reviews, it starts from a language model,
config checks."""
import pytest
import torch

from rnnkit.data.classification import reviews_zh
from rnnkit.data.sequences import BucketBatches, TokenEncoder, collate, split_text
from rnnkit.tasks.classifier import (Classifier, ClassifierConfig, classification_examples,
                                     classifier_from_language_model, classify_tokens)
from rnnkit.tasks.lm import LanguageModel, LanguageModelConfig
from rnnkit.train import TrainConfig, Trainer


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention", "concat"])
@pytest.mark.parametrize("cell, bidirectional", [("lstm", True), ("gru", False)])
def test_padding_does_not_change_a_row(pooling, cell, bidirectional):
    encoder = TokenEncoder.build([list("质量很好很满意"), list("太差")], "char", use_bigrams=True, bigram_min_count=1)
    config = ClassifierConfig(len(encoder.vocab), ("neg", "pos"), len(encoder.bigram_vocab), cell, embed_size=8,
                              bigram_embed_size=4, hidden_size=6, layers=2, bidirectional=bidirectional,
                              pooling=pooling)
    model = Classifier(config).eval()
    examples = classification_examples(encoder, [(list("质量很好很满意"), "pos"), (list("太差"), "neg")], ["neg", "pos"])
    both, alone = collate(examples), collate(examples[1:])
    padded = model(both.tokens, both.lengths, both.bigrams)[1]
    assert torch.allclose(padded, model(alone.tokens, alone.lengths, alone.bigrams)[0], atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_classifier_from_a_language_model_holds_its_encoder(cell):
    torch.manual_seed(0)
    lm = LanguageModel(LanguageModelConfig(vocab_size=12, cell=cell, embed_size=8, hidden_size=6, layers=2)).eval()
    model = classifier_from_language_model(lm, ("neg", "pos"), "concat", dropout=0.2).eval()
    assert torch.equal(model.features.embedding.weight, lm.embedding.weight)
    assert all(torch.equal(p, q) for p, q in zip(model.rnn.parameters(), lm.rnn.parameters()))
    assert model.features.embedding.weight.data_ptr() != lm.embedding.weight.data_ptr()     # copies, not shared
    tokens = torch.tensor([[3, 5, 7, 1], [2, 4, 0, 0]])
    lengths = torch.tensor([4, 2])
    h, _ = model.rnn(model.features(tokens), lengths=lengths)                  # (B, T, H)
    assert torch.allclose(h[0], lm.rnn(lm.embedding(tokens[:1]))[0][0], atol=1e-6)   # the LM's hidden states
    s = model.pool(h, model.rnn(model.features(tokens), lengths=lengths)[1], lengths)  # (B, 3H)
    assert s.shape == (2, 18)
    assert torch.allclose(s[1], torch.cat([h[1, 1], h[1, :2].amax(0), h[1, :2].mean(0)]), atol=1e-6)
    assert model(tokens, lengths).shape == (2, 2)


def test_layer_groups_partition_the_parameters_bottom_first():
    config = ClassifierConfig(10, ("a", "b", "c"), 7, embed_size=4, bigram_embed_size=2, hidden_size=3, layers=2,
                              pooling="attention")
    model = Classifier(config)
    groups = model.layer_groups()
    assert len(groups) == 4                                                    # features, 2 layers, head
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    assert {id(p) for p in groups[0]} == {id(p) for p in model.features.parameters()}
    assert {id(p) for p in groups[1]} == {id(p) for d in (0, 1) for p in model.rnn.cell(0, d).parameters()}
    assert id(model.output.weight) in {id(p) for p in groups[3]} and id(model.query) in {id(p) for p in groups[3]}


@pytest.mark.parametrize("options", [{"cell": "srn"}, {"cell_options": {"layer_norm": True}}])
def test_a_classifier_needs_a_plain_lstm_or_gru_language_model(options):
    lm = LanguageModel(LanguageModelConfig(vocab_size=12, embed_size=8, hidden_size=6, **options))
    with pytest.raises(ValueError, match="expected an LSTM or GRU language model without cell options"):
        classifier_from_language_model(lm, ("neg", "pos"))


def test_classifier_overfits_real_reviews():
    train, _, _ = reviews_zh().split()
    pairs = [(split_text(text, "char"), label) for text, label in train if 10 <= len(text) <= 40][:12]
    assert {label for _, label in pairs} == {"neg", "pos"}
    encoder = TokenEncoder.build([tokens for tokens, _ in pairs], "char", use_bigrams=True, bigram_min_count=1)
    config = ClassifierConfig(len(encoder.vocab), ("neg", "pos"), len(encoder.bigram_vocab), embed_size=16,
                              bigram_embed_size=8, hidden_size=16, pooling="attention", dropout=0.0)
    data = BucketBatches(classification_examples(encoder, pairs, ["neg", "pos"]), batch_size=12)
    trainer = Trainer(Classifier(config), TrainConfig(lr=0.02, epochs=30, progress=False), device="cpu")
    trainer.fit(data)
    assert trainer.evaluate(data)["accuracy"] == 1.0
    probabilities = classify_tokens(trainer.model, encoder, [tokens for tokens, _ in pairs] + [[]])
    assert probabilities.argmax(1)[:-1].tolist() == [["neg", "pos"].index(label) for _, label in pairs]
    assert probabilities[-1].tolist() == [0.5, 0.5]                              # no tokens: uniform


@pytest.mark.parametrize("options, message", [
    ({"labels": ("pos",)}, "labels: expected a tuple of at least two"),
    ({"pooling": "sum"}, "pooling: expected one of last, mean, max, attention"),
    ({"bigram_vocab_size": -1}, "bigram_vocab_size: expected an integer >= 0"),
])
def test_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        ClassifierConfig(**{"vocab_size": 5, "labels": ("neg", "pos"), **options})


def test_bigram_ids_are_required_when_configured():
    model = Classifier(ClassifierConfig(5, ("neg", "pos"), bigram_vocab_size=4))
    with pytest.raises(ValueError, match="bigrams: the model uses bigram features"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.tensor([3]))
