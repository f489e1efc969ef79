"""The classifier: every pooling ignores padding, it overfits real reviews, config checks."""
import pytest
import torch

from rnnkit.data.classification import reviews_zh
from rnnkit.data.sequences import BucketBatches, TokenEncoder, collate, split_text
from rnnkit.tasks.classifier import Classifier, ClassifierConfig, classification_examples, classify_tokens
from rnnkit.train import TrainConfig, Trainer


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
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
