"""The conversation decoding options on decoders whose distributions are written out by hand:
length normalisation, the repetition penalty, the minimum length, top-k / nucleus sampling and
the anti-language-model (MMI-antiLM) reranking."""
import math

import pytest
import torch

from rnnkit.nn.decoding import AntiLMState, anti_lm, beam_search, greedy_search, penalize_repeats, sample_search

BOS, EOS, A, B, C, D = 0, 1, 2, 3, 4, 5
V = 6


class TableDecoder:
    """``p(y_t | prefix)`` from a table keyed by the prefix (BOS first), ``floor`` for the tokens it leaves out;
    prefixes not in the table end: p(EOS) = 1. The state carries the prefix, rows on dimension 0, so
    the searches reorder it."""

    def __init__(self, table, floor=0.0):
        self.table, self.floor = table, floor

    def distribution(self, prefix):
        probs = torch.full((V,), self.floor, dtype=torch.float64)
        for token, p in self.table.get(prefix, {EOS: 1.0}).items():
            probs[token] = p
        return probs.log()

    def __call__(self, tokens, state):
        prefix = torch.cat([state["prefix"], tokens[:, None]], dim=1)                  # (N, t + 1)
        log_probs = torch.stack([self.distribution(tuple(row.tolist())) for row in prefix])
        return log_probs, {"prefix": prefix}

    @staticmethod
    def start(batch):
        return {"prefix": torch.zeros(batch, 0, dtype=torch.long)}


def search(decoder, **options):
    return beam_search(decoder, decoder.start(1), 1, bos_id=BOS, eos_id=EOS, max_len=6, **options).sequences()[0]


# "A </s>": log .6 + log .55 = -1.11 (per token -0.55); "B C C </s>": log .4 + log .8 = -1.14 (per token -0.28);
# the other endings: "A D </s>" -1.31 (-0.44), "B C </s>" -2.53 (-0.84)
LENGTHS = TableDecoder({(BOS,): {A: 0.6, B: 0.4}, (BOS, A): {EOS: 0.55, D: 0.45}, (BOS, A, D): {EOS: 1.0},
                        (BOS, B): {C: 1.0}, (BOS, B, C): {C: 0.8, EOS: 0.2}, (BOS, B, C, C): {EOS: 1.0}})


def test_length_normalisation_decides_between_a_short_and_a_long_reply():
    assert search(LENGTHS, beam_size=4, length_penalty=0.0) == [A]             # the larger sum: -1.11 > -1.14
    assert search(LENGTHS, beam_size=4, length_penalty=1.0) == [B, C, C]       # per token: -0.28 > -0.44 > -0.55


# After A, A again is the likeliest (.5 > .4); with θ = 2 it scores 2 log .5 = -1.39 < log .4 = -0.92.
REPEATS = TableDecoder({(BOS,): {A: 0.9, B: 0.1}, (BOS, A): {A: 0.5, B: 0.4, EOS: 0.1},
                        (BOS, A, A): {EOS: 1.0}, (BOS, A, B): {EOS: 1.0}})


def test_the_repetition_penalty_scales_seen_tokens_log_probabilities():
    log_probs = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -0.2, -3.0]])
    history = torch.tensor([[2, 2], [0, 1]])
    assert torch.equal(penalize_repeats(log_probs, history, 1.5),
                       torch.tensor([[-0.5, -1.0, -3.0], [-0.15, -0.3, -3.0]]))
    assert penalize_repeats(log_probs, history, 1.0) is log_probs


@pytest.mark.parametrize("beam_size", [1, 3])
def test_the_repetition_penalty_changes_the_reply_as_computed(beam_size):
    assert search(REPEATS, beam_size=beam_size) == [A, A]
    assert search(REPEATS, beam_size=beam_size, repetition_penalty=2.0) == [A, B]
    greedy = greedy_search(REPEATS, REPEATS.start(1), 1, bos_id=BOS, eos_id=EOS, max_len=6, repetition_penalty=2.0)
    assert greedy.sequences() == [[A, B]]
    assert greedy.log_probs.item() == pytest.approx(math.log(0.9) + math.log(0.4) + math.log(1.0))


def test_min_len_keeps_the_end_token_out_of_the_first_steps():
    empty = TableDecoder({(BOS,): {EOS: 0.7, A: 0.3}, (BOS, A): {EOS: 1.0}})
    assert search(empty, beam_size=2) == []
    assert search(empty, beam_size=2, min_len=1) == [A]
    greedy = greedy_search(empty, empty.start(1), 1, bos_id=BOS, eos_id=EOS, max_len=3, min_len=1)
    assert greedy.sequences() == [[A]]
    with pytest.raises(ValueError, match="min_len: expected an integer in"):
        search(empty, beam_size=2, min_len=6)


FIRST = TableDecoder({(BOS,): {A: 0.5, B: 0.3, C: 0.15, D: 0.05}})


def first_tokens(**options):
    rows = 4000
    result = sample_search(FIRST, FIRST.start(rows), rows, bos_id=BOS, eos_id=EOS, max_len=1,
                           generator=torch.Generator().manual_seed(0), **options)
    return torch.bincount(result.tokens[:, 0], minlength=V) / rows


def test_top_k_samples_only_the_k_most_probable_tokens():
    drawn = first_tokens(top_k=2)
    assert drawn[[C, D, EOS, BOS]].sum() == 0
    assert drawn[A].item() == pytest.approx(0.5 / 0.8, abs=0.03)
    assert drawn[B].item() == pytest.approx(0.3 / 0.8, abs=0.03)


def test_nucleus_sampling_keeps_the_smallest_set_reaching_top_p():
    drawn = first_tokens(top_p=0.7)                                    # .5 + .3 reaches .7: C and D are out
    assert set(drawn.nonzero()[:, 0].tolist()) == {A, B}
    assert drawn[A].item() == pytest.approx(0.5 / 0.8, abs=0.03)
    assert set(first_tokens(top_p=0.85).nonzero()[:, 0].tolist()) == {A, B, C}
    assert set(first_tokens().nonzero()[:, 0].tolist()) == {A, B, C, D}


def test_sampling_with_a_seeded_generator_repeats():
    assert torch.equal(first_tokens(temperature=1.5), first_tokens(temperature=1.5))


# The decoder prefers the generic G = A (.6) to the specific S = B (.4); a reply LM finds A likely (.9).
GENERIC = TableDecoder({(BOS,): {A: 0.6, B: 0.4}, (BOS, A): {C: 0.6, D: 0.4}, (BOS, B): {C: 0.6, D: 0.4},
                        (BOS, A, C): {EOS: 1.0}, (BOS, A, D): {EOS: 1.0}, (BOS, B, C): {EOS: 1.0},
                        (BOS, B, D): {EOS: 1.0}})
LM = TableDecoder({(BOS,): {A: 0.9, B: 0.1}, (BOS, A): {C: 0.9, D: 0.1}, (BOS, B): {C: 0.9, D: 0.1}}, floor=1e-3)


def mmi(weight, first):
    step = anti_lm(GENERIC, LM, weight=weight, first=first, eos_id=EOS)
    state = AntiLMState(GENERIC.start(1), LM.start(1), 0)
    return beam_search(step, state, 1, bos_id=BOS, eos_id=EOS, max_len=4, beam_size=4).sequences()[0]


def test_the_anti_lm_reranks_as_defined():
    assert mmi(0.0, 1) == [A, C]                       # plain beam: log .6 + log .6
    # first token: A scores log .6 - .5 log .9 = -0.46, B scores log .4 - .5 log .1 = +0.24: B wins
    assert mmi(0.5, 1) == [B, C]
    # with γ = 2 the second token is penalised too: C: log .6 - .5 log .9 = -0.46, D: log .4 - .5 log .1 = +0.24
    assert mmi(0.5, 2) == [B, D]


def test_the_anti_lm_leaves_the_end_token_and_later_steps_alone():
    step = anti_lm(GENERIC, LM, weight=0.5, first=1, eos_id=EOS)
    tokens = torch.tensor([BOS])
    scores, state = step(tokens, AntiLMState(GENERIC.start(1), LM.start(1), 0))
    plain, _ = GENERIC(tokens, GENERIC.start(1))
    lm, _ = LM(tokens, LM.start(1))
    assert scores[0, EOS] == plain[0, EOS]                                         # not rewarded for being unlikely
    torch.testing.assert_close(scores[0, A], plain[0, A] - 0.5 * lm[0, A])
    later, _ = step(torch.tensor([A]), state)
    torch.testing.assert_close(later, GENERIC(torch.tensor([A]), state.decoder)[0])   # t > γ: p(T|S) alone
    with pytest.raises(ValueError, match="weight: expected a finite number >= 0"):
        anti_lm(GENERIC, LM, weight=-1.0, first=1, eos_id=EOS)
