"""The three captioning decoders: the textbook's step-1 equation by hand, shapes, loss, search, scores."""
import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.captions import CaptionBatch
from rnnkit.data.pairs import BOS_ID, EOS_ID
from rnnkit.tasks.captioner import Captioner, CaptionerConfig
from rnnkit.tasks.captioning import caption_scores

V = 13


def _model(decoder, cell="lstm", **options):
    config = dict(embed_size=5, hidden_size=7, feature_size=6, channels=(4, 8), image_size=8)
    config.update(options)
    return Captioner(CaptionerConfig(V, decoder=decoder, cell=cell, **config)).double().eval()


def _images(batch=3, seed=0):
    return torch.rand(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_step1_is_the_textbook_equation_by_hand():
    """h_1 = tanh(U x_1 + W h_0 + b + V X) with h_0 = 0; h_2 = tanh(U x_2 + W h_1 + b): X enters once."""
    model = _model("step1", cell="srn")
    images = _images(2)
    words = torch.tensor([[BOS_ID, 5], [BOS_ID, 9]])
    with torch.no_grad():
        X = model.encoder((images - model.pixel_mean) / model.pixel_std).vector          # (B, F)
        U, W = model.cell.weight_ih, model.cell.weight_hh
        b = model.cell.bias_ih + model.cell.bias_hh
        V_ = model.inject.weight                                                          # (H, F)
        h0 = torch.zeros(2, 7, dtype=torch.float64)
        x1, x2 = model.embedding(words[:, 0]), model.embedding(words[:, 1])
        h1 = torch.tanh(x1 @ U.T + h0 @ W.T + b + X @ V_.T)
        h2 = torch.tanh(x2 @ U.T + h1 @ W.T + b)
        logits, weights = model(images, words)
    torch.testing.assert_close(logits[:, 0], model.output(h1))
    torch.testing.assert_close(logits[:, 1], model.output(h2))
    assert weights is None


def test_init_starts_from_the_image_and_attention_weighs_the_grid():
    model = _model("init", cell="lstm")
    images = _images(2)
    state, _ = model.encode(images)
    with torch.no_grad():
        X = model.encoder((images - model.pixel_mean) / model.pixel_std).vector
        torch.testing.assert_close(state.cell.h, torch.tanh(model.initial[0](X)))
        torch.testing.assert_close(state.cell.c, torch.tanh(model.initial[1](X)))
    attending = _model("attention", cell="gru")
    _, weights = attending(images, torch.tensor([[BOS_ID, 4, 6], [BOS_ID, 7, 7]]))
    assert weights.shape == (2, 3, 4)                                       # 8x8 image, 2 pools: a 2x2 grid
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    assert not torch.allclose(weights[:, 0], weights[:, 1])


@pytest.mark.parametrize("decoder", ["step1", "init", "attention"])
@pytest.mark.parametrize("cell", ["srn", "lstm", "gru"])
def test_shapes_and_the_loss_is_the_mean_nll_of_the_caption_tokens(decoder, cell):
    model = _model(decoder, cell)
    targets = torch.tensor([[BOS_ID, 4, 5, EOS_ID], [BOS_ID, 6, EOS_ID, -1], [BOS_ID, EOS_ID, -1, -1]])
    batch = CaptionBatch(_images(3), targets)
    out = model.loss(batch)
    with torch.no_grad():
        logits, weights = model(batch.images, targets[:, :-1].clamp_min(0))
    assert logits.shape == (3, 3, V) and (weights is None) == (decoder != "attention")
    picked = [F.log_softmax(logits[b, t], -1)[targets[b, t + 1]] for b in range(3) for t in range(3)
              if targets[b, t + 1] >= 0]
    assert out.count == len(picked) == 6
    assert float(out.loss.detach()) == pytest.approx(-float(sum(picked)) / 6)
    hypotheses = model.caption(batch.images, beam_size=2, max_len=5)
    assert hypotheses.tokens.shape[0] == 3 and all(len(ids) <= 5 for ids in hypotheses.sequences())


@pytest.mark.parametrize("decoder", ["step1", "init", "attention"])
def test_beam_search_is_at_least_as_likely_as_greedy_and_beam_one_is_greedy(decoder):
    model = _model(decoder, hidden_size=12)
    images = _images(6, seed=3)
    greedy = model.caption(images, beam_size=1, max_len=6)
    assert model.caption(images, beam_size=1, max_len=6).sequences() == greedy.sequences()
    beam = model.caption(images, beam_size=5, max_len=6, length_penalty=0.0)
    assert (beam.log_probs >= greedy.log_probs - 1e-9).all()
    for b in range(6):                                           # each row decoded alone gives the same caption
        alone = model.caption(images[b:b + 1], beam_size=5, max_len=6, length_penalty=0.0)
        assert alone.sequences()[0] == beam.sequences()[b]


def test_caption_scores_take_several_references_split_punctuation_as_the_tokens_do_and_chinese_by_characters():
    scores = caption_scores(["a red square", "cook: medium - dark skin tone"],
                            [["a red square"], ["a blue circle", "cook: medium-dark skin tone"]])
    assert scores["exact"] == 100.0 and scores["bleu1"] == pytest.approx(100.0) and scores["bleu4"] > 99
    zh = caption_scores(["旗: 中国"], [["旗: 日本"]], level="char")
    assert zh["bleu1"] == pytest.approx(50.0) and zh["exact"] == 0.0
    with pytest.raises(ValueError, match="hypotheses: expected one per image"):
        caption_scores(["a"], [["a"], ["b"]])


def test_config_checks_name_the_field():
    with pytest.raises(ValueError, match="decoder: expected one of step1, init, attention"):
        CaptionerConfig(V, decoder="merge")
    with pytest.raises(ValueError, match=r"image_size: expected a multiple of 2\*\*4"):
        CaptionerConfig(V, image_size=40)
    with pytest.raises(ValueError, match=r"images: expected float images \(B, 3, 8, 8\)"):
        _model("init").encode(torch.zeros(1, 3, 16, 16))
