"""The tagger: overfits real pd98 sentences (CRF and softmax, with dictionary features), padding invariance,
segmentation of raw text in its own characters (full-width and half-width alike), config checks."""
import pytest
import torch

from rnnkit.data.sequences import BucketBatches, TokenEncoder, collate
from rnnkit.data.tagging import entity_spans, load_tagging_corpus, words_from_bmes
from rnnkit.data.textnorm import fold_width
from rnnkit.tasks.scoring import bmes_segmentation_scores, entity_scores
from rnnkit.tasks.tagger import Tagger, TaggerConfig, segment_texts, tag_sequences, tagging_examples
from rnnkit.train import TrainConfig, Trainer


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def _short_sentences(name, count, with_entities=False):
    train, _, _ = load_tagging_corpus(name).split()
    picked = [s for s in train if 8 <= len(s[0]) <= 20 and (not with_entities or len(entity_spans(s[1])) >= 2)]
    return picked[:count]


def _fit(sentences, tags, scheme, epochs, normalize=None, lexicon=False, **options):
    tokens = [t for t, _ in sentences]
    words = [words_from_bmes(t, g) for t, g in sentences] if lexicon else None
    encoder = TokenEncoder.build(tokens, "char", use_bigrams=True, bigram_min_count=1, normalize=normalize,
                                 lexicon_words=words)
    config = TaggerConfig(len(encoder.vocab), tuple(tags), scheme, len(encoder.bigram_vocab), embed_size=16,
                          bigram_embed_size=8, hidden_size=16, dropout=0.0,
                          lexicon_size=encoder.lexicon.size if lexicon else 0, **options)
    data = BucketBatches(tagging_examples(encoder, sentences, tags), batch_size=len(sentences))
    trainer = Trainer(Tagger(config), TrainConfig(lr=0.03, epochs=epochs, progress=False), device="cpu")
    trainer.fit(data)
    return trainer.model, encoder, tokens


def test_crf_tagger_overfits_real_segmentation_sentences():
    sentences = _short_sentences("pd98-seg", 6)
    model, encoder, tokens = _fit(sentences, ["B", "M", "E", "S"], "bmes", epochs=30)
    predicted = tag_sequences(model, encoder, tokens)
    scores = bmes_segmentation_scores(tokens, [g for _, g in sentences], predicted)
    assert scores["f1"] == 1.0, scores


def test_a_segmenter_with_normal_forms_and_a_lexicon_overfits_sentences_with_digits_and_latin():
    train, _, _ = load_tagging_corpus("pd98-seg").split()
    sentences = [s for s in train if 8 <= len(s[0]) <= 30 and any("０" <= c <= "Ｚ" for c in s[0])][:6]
    model, encoder, tokens = _fit(sentences, ["B", "M", "E", "S"], "bmes", epochs=30, normalize="width-classes",
                                  lexicon=True)
    assert len(encoder.lexicon) > 0 and model.features.lexicon_embedding is not None
    predicted = tag_sequences(model, encoder, tokens)
    assert bmes_segmentation_scores(tokens, [g for _, g in sentences], predicted)["f1"] == 1.0
    texts = ["".join(t) for t in tokens]
    half = ["".join(fold_width(c) for c in text) for text in texts]                 # １９９８年 -> 1998年
    assert half != texts and segment_texts(model, encoder, half) == segment_texts(model, encoder, texts)


def test_segmentation_keeps_the_users_characters_at_their_offsets():
    encoder = TokenEncoder.build([list("１９９８年ＡＰＥＣ会议在北京举行")], "char", use_bigrams=True,
                                 bigram_min_count=1, normalize="width-classes", lexicon_words=[["北京"]])
    torch.manual_seed(0)
    model = Tagger(TaggerConfig(len(encoder.vocab), ("B", "M", "E", "S"), "bmes", len(encoder.bigram_vocab),
                                embed_size=8, bigram_embed_size=4, hidden_size=8, lexicon_size=encoder.lexicon.size))
    half, full = "我在2023年买了 iPhone 15，花了5999元", "我在２０２３年买了　ｉＰｈｏｎｅ　１５，花了５９９９元"
    spans = segment_texts(model, encoder, [half, full, "", "  "])
    assert spans[0] == spans[1] and spans[2:] == [[], []]                          # same words, same offsets
    for text, text_spans in zip((half, full), spans):
        assert "".join(text[a:b] for a, b in text_spans) == "".join(text.split())  # the characters as typed
        assert all(not text[a:b].isspace() and " " not in text[a:b] and "\u3000" not in text[a:b]
                   for a, b in text_spans)                                         # no word spans a space
        assert all(b == c or text[b:c].isspace() for (_, b), (c, _) in zip(text_spans, text_spans[1:]))


def test_softmax_gru_tagger_overfits_real_entities():
    sentences = _short_sentences("pd98-ner", 6, with_entities=True)
    tags = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    model, encoder, tokens = _fit(sentences, tags, "bio", epochs=30, cell="gru", decoder="softmax")
    scores = entity_scores([g for _, g in sentences], tag_sequences(model, encoder, tokens))
    assert scores["f1"] == 1.0, scores


def test_a_padded_row_tags_like_the_row_alone():
    encoder = TokenEncoder.build([list("我爱北京天安门")], "char", use_bigrams=True, bigram_min_count=1)
    model = Tagger(TaggerConfig(len(encoder.vocab), ("B", "M", "E", "S"), "bmes", len(encoder.bigram_vocab),
                                embed_size=8, bigram_embed_size=4, hidden_size=8)).eval()
    examples = tagging_examples(encoder, [(list("我爱北京天安门"), list("SSBEBME")), (list("北京"), list("BE"))],
                                ["B", "M", "E", "S"])
    both = collate(examples)
    alone = collate(examples[1:])
    emissions = model(both.tokens, both.lengths, both.bigrams)
    assert torch.allclose(emissions[1, :2], model(alone.tokens, alone.lengths, alone.bigrams)[0], atol=1e-6)
    assert model.predict(both.tokens, both.lengths, both.bigrams)[1, 2:].tolist() == [-1] * 5
    assert tag_sequences(model, encoder, [list("北京"), [], list("我爱北京天安门")])[1] == []


def test_an_unknown_tag_is_reported():
    encoder = TokenEncoder.build([list("ab")], "char")
    with pytest.raises(ValueError, match="sentence 0 has the tag 'X'"):
        tagging_examples(encoder, [(list("ab"), ["B", "X"])], ["B", "E"])


@pytest.mark.parametrize("options, message", [
    ({"tags": ("B", "X"), "scheme": "bmes"}, "expects the tags B, M, E, S"),
    ({"tags": ["B", "E"]}, "tags: expected a tuple"),
    ({"cell": "rnn"}, "cell: expected one of lstm, gru"),
    ({"decoder": "hmm"}, "decoder: expected one of crf, softmax"),
    ({"dropout": 1.0}, "dropout: expected a rate"),
    ({"vocab_size": 0}, "vocab_size: expected a positive integer"),
])
def test_config_rejects_bad_values(options, message):
    values = {"vocab_size": 5, "tags": ("B", "M", "E", "S"), **options}
    with pytest.raises(ValueError, match=message):
        TaggerConfig(**values)


def test_config_round_trips_through_json():
    import dataclasses
    import json

    config = TaggerConfig(7, ("O", "B-PER", "I-PER"), "bio", bigram_vocab_size=3)
    assert TaggerConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(config)))) == config
