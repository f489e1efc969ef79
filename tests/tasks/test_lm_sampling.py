import pytest
import torch

from rnnkit.data import Vocabulary
from rnnkit.nn.sampling import StatefulDecoder, beam_search, filter_logits, sample
from rnnkit.tasks import LanguageModel, LanguageModelConfig, generate_text


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    return LanguageModel(LanguageModelConfig(vocab_size=13, embed_size=8, hidden_size=16, layers=2)).eval()


class CountingModel(torch.nn.Module):
    """Wraps a model and records the length of every input it is given."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, x, state=None):
        self.calls.append(x.shape[1])
        return self.inner(x, state)


def test_stateful_steps_equal_recomputing_the_full_prefix(model):
    prefix = torch.tensor([3, 1, 4, 1, 5])
    counting = CountingModel(model)
    decoder = StatefulDecoder(counting, prefix)
    tokens, step_logits = [2, 7, 1, 8, 2, 8], [decoder.logits[0]]
    for token in tokens[:-1]:
        step_logits.append(decoder.advance(torch.tensor([token]))[0])
    full, _ = model(torch.cat([prefix, torch.tensor(tokens[:-1])])[None])
    torch.testing.assert_close(torch.stack(step_logits), full[0, len(prefix) - 1:], rtol=1e-5, atol=1e-6)
    assert counting.calls == [5, 1, 1, 1, 1, 1]              # the prefix once, then one token per step


def test_sample_feeds_one_token_per_step_and_is_seeded(model):
    counting = CountingModel(model)
    first = list(sample(counting, torch.tensor([0, 1]), 20, generator=torch.Generator().manual_seed(3)))
    assert counting.calls == [2] + [1] * 19
    again = list(sample(model, torch.tensor([0, 1]), 20, generator=torch.Generator().manual_seed(3)))
    other = list(sample(model, torch.tensor([0, 1]), 20, generator=torch.Generator().manual_seed(4)))
    assert first == again != other and all(0 <= t < 13 for t in first)


def test_greedy_takes_the_argmax_of_the_recomputed_logits(model):
    tokens = list(sample(model, torch.tensor([5]), 8, greedy=True))
    full, _ = model(torch.tensor([[5, *tokens[:-1]]]))
    assert tokens == full[0].argmax(-1).tolist()


def test_beam_of_one_equals_greedy(model):
    prefix = torch.tensor([2, 9])
    assert beam_search(model, prefix, 10, beam_size=1) == list(sample(model, prefix, 10, greedy=True))


def test_beam_wide_enough_finds_the_most_probable_continuation(model):
    prefix = torch.tensor([2, 9])
    with torch.no_grad():
        grid = torch.cartesian_prod(*[torch.arange(13)] * 3)                   # (13^3, 3) all continuations
        logits, _ = model(torch.cat([prefix.expand(len(grid), 2), grid[:, :2]], 1))
        log_probs = logits[:, 1:].log_softmax(-1).gather(2, grid[:, :, None])[..., 0].sum(1)
    best = grid[log_probs.argmax()].tolist()
    assert beam_search(model, prefix, 3, beam_size=13 * 13) == best       # keeps every 2-token prefix


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0]).log()        # probabilities 1/6, 3/6, 2/6, 0
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [False, True, True, False]
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [False, True, False, False]
    assert torch.isfinite(filter_logits(logits, top_p=0.6)).tolist() == [False, True, True, False]
    assert torch.isfinite(filter_logits(logits, top_p=1.0)).tolist() == [True, True, True, False]
    torch.testing.assert_close(filter_logits(logits, temperature=0.5).softmax(-1),
                               torch.tensor([1.0, 9.0, 4.0, 0.0]) / 14)


def test_top_k_samples_only_from_the_k_most_likely(model):
    logits, _ = model(torch.tensor([[4]]))
    allowed = set(logits[0, 0].topk(3).indices.tolist())
    first = next(sample(model, torch.tensor([4]), 1, top_k=3, generator=torch.Generator().manual_seed(0)))
    firsts = {next(sample(model, torch.tensor([4]), 1, top_k=3, generator=torch.Generator().manual_seed(s)))
              for s in range(60)}
    assert first in allowed and firsts == allowed


def test_constraint_restricts_every_step(model):
    even = torch.arange(13) % 2 == 0
    tokens = list(sample(model, torch.tensor([1]), 30, allowed=lambda generated: even,
                         generator=torch.Generator().manual_seed(0)))
    assert all(t % 2 == 0 for t in tokens)
    assert all(t % 2 == 0 for t in beam_search(model, torch.tensor([1]), 6, 3, allowed=lambda g: even))


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0.0}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p")])
def test_bad_sampling_options(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        next(sample(model, torch.tensor([1]), 3, **kwargs))


def test_generate_text_streams_pieces_and_never_unk():
    vocab = Vocabulary.build("abcabd\n")
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), embed_size=4, hidden_size=8, layers=1))
    pieces = list(generate_text(model, vocab, prime="ab", length=40, seed=5, temperature=3.0))
    assert len(pieces) == 40 and all(p in vocab.tokens[1:] for p in pieces)
    assert pieces == list(generate_text(model, vocab, prime="ab", length=40, seed=5, temperature=3.0))
    beam = "".join(generate_text(model, vocab, prime="ab", length=12, beam=3))
    assert len(beam) == 12 and "<unk>" not in beam
    greedy = list(generate_text(model, vocab, prime="ab", length=12, greedy=True))
    assert list(generate_text(model, vocab, prime="ab", length=12, beam=1, seed=9)) == greedy
    assert model.training                                    # the train/eval mode is restored
