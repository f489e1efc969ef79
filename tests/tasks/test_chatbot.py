"""The chatbot model: both context encoders' shapes, padding that changes nothing, the reply language
model that leaves the chatbot alone, replies under every decoder, and the reply scores."""
import dataclasses

import pytest
import torch

from rnnkit.data.dialogue import Exchange, collate_turns, encode_exchanges, pad_context
from rnnkit.data.pairs import EOS_ID, build_vocabulary, collate_pairs
from rnnkit.tasks.chatbot import Chatbot, ChatbotConfig, Decoding
from rnnkit.tasks.chatting import Responder, dialogue_scores, distinct

TURNS = ["你好", "你好啊，今天去哪", "去公园散步", "公园人多吗", "不多，很安静", "那我也去"]


@pytest.fixture(scope="module")
def vocab():
    return build_vocabulary(TURNS, "char")


def model_of(vocab, context, cell="gru", **options):
    torch.manual_seed(0)
    config = ChatbotConfig(len(vocab), len(vocab), cell=cell, embed_size=8, hidden_size=12, context=context,
                           anti_lm_size=6, **options)
    return Chatbot(config).eval()


def batch_of(vocab, items, hierarchical):
    """The items in their order, padded as turns (hierarchical) or in the separator form."""
    examples = encode_exchanges(items, vocab)
    return collate_turns(examples) if hierarchical else collate_pairs(examples)


ITEMS = [Exchange(("你好",), "你好啊"),                                          # 1 short turn
         Exchange(("你好", "你好啊，今天去哪", "去公园散步"), "公园人多吗"),        # 3 turns, a long one
         Exchange(("公园人多吗", "不多，很安静"), "那我也去")]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hred_reads_turns_into_keys_and_a_context_state(vocab, cell):
    model = model_of(vocab, "hred", cell=cell, bidirectional=True)
    batch = batch_of(vocab, ITEMS, hierarchical=True)                                # tokens (3, 3, 8)
    B, N, S = batch.tokens.shape
    state = model.encode(batch.tokens, batch.lengths)
    assert state.keys.shape == (B, N * S, 2 * 12) and state.mask.shape == (B, N * S)
    assert state.mask.sum(dim=1).tolist() == batch.lengths.sum(dim=1).tolist()
    assert torch.all(state.keys[~state.mask] == 0)
    logits, weights = model(batch.tokens, batch.lengths, batch.targets[:, :-1].clamp_min(0))
    assert logits.shape == (B, batch.targets.shape[1] - 1, len(vocab))
    assert torch.all(weights.masked_select(~state.mask[:, None, :]) == 0)


@pytest.mark.parametrize("context", ["hred", "separator"])
def test_padding_does_not_change_a_rows_output(vocab, context):
    model = model_of(vocab, context)
    hierarchical = context == "hred"
    together = batch_of(vocab, ITEMS, hierarchical)
    logits, _ = model(together.tokens, together.lengths, together.targets[:, :-1].clamp_min(0))
    for row, item in enumerate(ITEMS):
        alone = batch_of(vocab, [item], hierarchical)
        steps = alone.targets.shape[1] - 1
        own, _ = model(alone.tokens, alone.lengths, alone.targets[:, :-1])
        torch.testing.assert_close(logits[row, :steps], own[0], atol=1e-5, rtol=1e-5)


def test_hred_wants_turns(vocab):
    flat = batch_of(vocab, ITEMS, hierarchical=False)
    with pytest.raises(ValueError, match=r"src: the hred context encoder reads turns \(B, N, S\)"):
        model_of(vocab, "hred").encode(flat.tokens, flat.lengths)


def test_the_reply_language_model_trains_beside_the_chatbot_without_changing_it(vocab):
    model = model_of(vocab, "hred")
    batch = batch_of(vocab, ITEMS, hierarchical=True)
    gradients = {}
    for training in (False, True):
        model.train(training)
        model.zero_grad()
        result = model.loss(batch)
        result.loss.backward()
        gradients[training] = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        assert result.metrics["reply_lm_nll"] > 0
    assert {n for n in gradients[True]} - {n for n in gradients[False]} == {
        n for n, _ in model.named_parameters() if n.startswith("reply_lm")}
    for name, grad in gradients[False].items():                  # dropout is 0: the chatbot's own gradients
        torch.testing.assert_close(gradients[True][name], grad)


@pytest.mark.parametrize("context, decoding", [
    ("hred", Decoding()), ("separator", Decoding(beam_size=3, repetition_penalty=1.5)),
    ("hred", Decoding(beam_size=3, anti_lm=0.5)), ("separator", Decoding(sample=True, top_p=0.9)),
    ("hred", Decoding(sample=True, top_k=3, anti_lm=1.0, anti_lm_first=2)),
], ids=lambda d: d if isinstance(d, str) else d.describe())
def test_every_decoder_replies_within_its_lengths_and_never_says_unk(vocab, context, decoding):
    model = model_of(vocab, context)
    decoding = dataclasses.replace(decoding, max_len=6, min_len=2)
    batch = pad_context(encode_exchanges(ITEMS, vocab), context == "hred")
    replies = model.respond(batch.tokens, batch.lengths, decoding, generator=torch.Generator().manual_seed(0))
    assert len(replies.sequences()) == len(ITEMS)
    for ids in replies.sequences():
        assert 2 <= len(ids) <= 6 and 0 not in ids and 1 not in ids and EOS_ID not in ids


def test_the_responder_reads_the_last_turns_cleaned(vocab):
    responder = Responder(model_of(vocab, "separator"), vocab, turns=2, max_len=3)
    assert responder.encode(["你好", "", "你好啊，今天去哪", "\x00去公园\t散步\x1b"]) == \
        [*vocab.encode("今天去哪").tolist()[-3:], EOS_ID, *vocab.encode("园 散步").tolist()[-3:]]
    replies = responder.replies([["你好"], TURNS[:4], ["\u2603\U0001F600 unknown"]], Decoding(max_len=5))
    assert len(replies) == 3 and all("\n" not in r for r in replies)
    with pytest.raises(ValueError, match="contexts: conversation 1 is empty"):
        responder.replies([["你好"], ["\x01", "  "]])
    with pytest.raises(ValueError, match="vocab: expected"):
        Responder(model_of(vocab, "separator"), build_vocabulary(["ab"]), turns=2)


def test_a_chatbot_reads_and_writes_one_vocabulary():
    with pytest.raises(ValueError, match="tgt_vocab_size: a chatbot reads and writes one vocabulary"):
        ChatbotConfig(20, 30)
    with pytest.raises(ValueError, match="context: expected one of separator, hred"):
        ChatbotConfig(20, 20, context="flat")
    with pytest.raises(ValueError, match="anti_lm: this model has no reply language model"):
        model = Chatbot(ChatbotConfig(20, 20, embed_size=4, hidden_size=4, anti_lm_size=0, context="separator"))
        model.respond(torch.tensor([[5, 6]]), torch.tensor([2]), Decoding(anti_lm=0.5))
    for bad, message in [({"beam_size": 0}, "beam_size"), ({"repetition_penalty": 0.5}, "repetition_penalty"),
                         ({"temperature": 0.0}, "temperature"), ({"top_p": 1.5}, "top_p"),
                         ({"min_len": 40}, "min_len")]:
        with pytest.raises(ValueError, match=message):
            Decoding(**bad)


def test_distinct_n_counts_distinct_ngrams_over_generated_characters():
    replies = ["哈哈哈", "你 好", ""]                       # 5 characters; unigrams 哈 你 好; bigrams 哈哈 你好
    assert distinct(replies, 1) == pytest.approx(3 / 5)
    assert distinct(replies, 2) == pytest.approx(2 / 5)
    assert distinct([""], 2) == 0.0


def test_dialogue_scores_match_hand_counts():
    scores = dialogue_scores(["你好啊", "哈哈"], ["你好呀", "哈哈"])
    # BLEU-2 by characters: unigrams 4/5, bigrams 2/3 matched, no brevity penalty: sqrt(4/5 * 2/3)
    assert scores["bleu2"] == pytest.approx(100 * (4 / 5 * 2 / 3) ** 0.5, abs=0.01)
    assert scores["length"] == 2.5 and scores["distinct1"] == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="replies: expected one per reference"):
        dialogue_scores(["a"], ["a", "b"])
