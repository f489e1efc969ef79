"""Greedy and beam search on toy decoders: beam 1 is greedy, a wide beam is exhaustive search."""
import itertools

import pytest
import torch

from rnnkit.nn.decoding import beam_search, greedy_search, map_rows

BOS, EOS = 0, 1


class ToyDecoder:
    """A tiny random RNN decoder: ``h' = tanh(E[y] + h W)``, ``log p = log_softmax(h' V + eos_bias)``.

    The state ``(h, steps)`` has the rows on dimension 0, so the searches must reorder it correctly.
    """

    def __init__(self, vocab=4, hidden=5, eos_bias=0.0, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.E = torch.randn(vocab, hidden, generator=g, dtype=torch.float64)
        self.W = torch.randn(hidden, hidden, generator=g, dtype=torch.float64) / 2
        self.V = torch.randn(hidden, vocab, generator=g, dtype=torch.float64) * 2
        self.bias = torch.zeros(vocab, dtype=torch.float64)
        self.bias[EOS] = eos_bias

    def initial(self, batch, seed=1):
        g = torch.Generator().manual_seed(seed)
        return {"h": torch.randn(batch, self.W.shape[0], generator=g, dtype=torch.float64), "extra": None}

    def __call__(self, tokens, state):
        h = torch.tanh(self.E[tokens] + state["h"] @ self.W)                       # (N, H)
        return (h @ self.V + self.bias).log_softmax(-1), {"h": h, "extra": None}

    def sequence_log_prob(self, state_row, tokens):
        """log p of a whole output (as given: with EOS at the end if it ends) for one row."""
        state, total, previous = state_row, 0.0, BOS
        for token in tokens:
            log_probs, state = self(torch.tensor([previous]), state)
            total += float(log_probs[0, token])
            previous = token
        return total


@pytest.mark.parametrize("eos_bias", [0.0, 1.5, -3.0])
def test_beam_of_one_is_greedy(eos_bias):
    decoder = ToyDecoder(vocab=6, eos_bias=eos_bias)
    state = decoder.initial(8)
    greedy = greedy_search(decoder, state, 8, bos_id=BOS, eos_id=EOS, max_len=7)
    beam = beam_search(decoder, state, 8, bos_id=BOS, eos_id=EOS, max_len=7, beam_size=1, length_penalty=1.0)
    assert torch.equal(beam.tokens, greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    torch.testing.assert_close(beam.log_probs, greedy.log_probs)
    assert torch.equal(beam.ended, greedy.ended)


def test_greedy_takes_the_argmax_and_pads_with_eos():
    decoder = ToyDecoder(vocab=5, eos_bias=1.0)
    state = decoder.initial(6)
    result = greedy_search(decoder, state, 6, bos_id=BOS, eos_id=EOS, max_len=5)
    for b, ids in enumerate(result.sequences()):
        row = map_rows(lambda t: t[b:b + 1], state)
        previous = BOS
        for token in ids + ([EOS] if result.ended[b] else []):
            log_probs, row = decoder(torch.tensor([previous]), row)
            assert token == int(log_probs.argmax())
            previous = token
        assert EOS not in ids
        assert all(t == EOS for t in result.tokens[b, len(ids):].tolist())
        ended = [EOS] if result.ended[b] else []
        assert float(result.log_probs[b]) == pytest.approx(
            decoder.sequence_log_prob(map_rows(lambda t: t[b:b + 1], state), ids + ended))


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_is_exhaustive_search(alpha):
    """With more beams than prefixes nothing is pruned: the result is the best of all outputs."""
    decoder, max_len, vocab = ToyDecoder(vocab=4, eos_bias=0.5, seed=3), 4, 4
    state = decoder.initial(3, seed=5)
    result = beam_search(decoder, state, 3, bos_id=BOS, eos_id=EOS, max_len=max_len, beam_size=vocab ** max_len,
                         length_penalty=alpha)
    others = [t for t in range(vocab) if t != EOS]
    for b in range(3):
        row = map_rows(lambda t: t[b:b + 1], state)
        candidates = [(list(p) + [EOS]) for n in range(max_len) for p in itertools.product(others, repeat=n)]
        candidates += [list(p) for p in itertools.product(others, repeat=max_len)]
        scored = [(decoder.sequence_log_prob(row, c) / len(c) ** alpha, c) for c in candidates]
        _, best = max(scored)
        assert result.sequences()[b] == (best[:-1] if best[-1] == EOS else best)
        assert float(result.log_probs[b]) == pytest.approx(decoder.sequence_log_prob(row, best))


class TableDecoder:
    """A decoder given as a tree of prefixes: ``state`` is the node; ``table[node]`` its log-probs."""

    def __init__(self, table, children):
        self.table, self.children = table, children

    def __call__(self, tokens, node):
        node = self.children[node, tokens]                                          # (N,)
        return self.table[node], node


def _log(*probs):
    return torch.tensor(probs, dtype=torch.float64).log()


def test_beam_search_finds_what_greedy_misses_and_length_normalisation_prefers_longer():
    # tokens 0 BOS, 1 EOS, 2 a, 3 b.  p(.|BOS) = a .5, b .4, EOS .1;  p(.|a) = a .45, b .3, EOS .25;
    # p(.|b) = EOS .9;  p(.|a a) = p(.|a b) = EOS 1.   Greedy: "a a" (.5 * .45 = .225); best: "b" (.36).
    nodes = {"start": 0, "root": 1, "a": 2, "b": 3, "aa": 4, "ab": 5, "end": 6}
    table = torch.stack([_log(.25, .25, .25, .25), _log(1e-9, .1, .5, .4), _log(1e-9, .25, .45, .3),
                         _log(1e-9, .9, .05, .05), _log(1e-9, 1, 1e-9, 1e-9), _log(1e-9, 1, 1e-9, 1e-9),
                         _log(.25, .25, .25, .25)])
    children = torch.full((7, 4), nodes["end"])
    children[nodes["start"], BOS] = nodes["root"]
    children[nodes["root"], 2], children[nodes["root"], 3] = nodes["a"], nodes["b"]
    children[nodes["a"], 2], children[nodes["a"], 3] = nodes["aa"], nodes["ab"]
    decoder = TableDecoder(table, children)
    start = torch.tensor([nodes["start"]])
    greedy = greedy_search(decoder, start, 1, bos_id=BOS, eos_id=EOS, max_len=5)
    assert greedy.sequences() == [[2, 2]]
    assert float(greedy.log_probs[0]) == pytest.approx(float(torch.tensor(.225).log()))
    beam = beam_search(decoder, start, 1, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=2, length_penalty=0.0)
    assert beam.sequences() == [[3]]
    assert float(beam.log_probs[0]) == pytest.approx(float(torch.tensor(.36).log()))
    # score = log p / |y|^α with |y| counting EOS: "b EOS" log .36 / 2^α, "a a EOS" log .225 / 3^α
    plain = beam_search(decoder, start, 1, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=3, length_penalty=0.0)
    normalised = beam_search(decoder, start, 1, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=3, length_penalty=3.0)
    assert plain.sequences() == [[3]]                           # -1.02 beats -1.49
    assert normalised.sequences() == [[2, 2]]                   # -1.49 / 27 = -0.055 beats -1.02 / 8 = -0.128


def test_max_len_cuts_outputs_that_never_end():
    decoder = ToyDecoder(vocab=4, eos_bias=-50.0)
    state = decoder.initial(2)
    for result in (greedy_search(decoder, state, 2, bos_id=BOS, eos_id=EOS, max_len=3),
                   beam_search(decoder, state, 2, bos_id=BOS, eos_id=EOS, max_len=3, beam_size=3)):
        assert result.lengths.tolist() == [3, 3] and not result.ended.any()
        assert result.tokens.shape == (2, 3)


def test_map_rows_keeps_structure_and_none():
    state = ({"h": torch.arange(3)}, None, [torch.ones(3, 2)], 7)
    moved = map_rows(lambda t: t.flip(0), state)
    assert moved[0]["h"].tolist() == [2, 1, 0] and moved[1] is None and moved[3] == 7


def test_errors_name_the_argument():
    decoder = ToyDecoder()
    state = decoder.initial(2)
    with pytest.raises(ValueError, match="beam_size: expected an integer >= 1, got 0"):
        beam_search(decoder, state, 2, bos_id=BOS, eos_id=EOS, max_len=3, beam_size=0)
    with pytest.raises(ValueError, match="max_len: expected an integer >= 1, got 0"):
        greedy_search(decoder, state, 2, bos_id=BOS, eos_id=EOS, max_len=0)
    with pytest.raises(ValueError, match="length_penalty: expected a number >= 0, got -1"):
        beam_search(decoder, state, 2, bos_id=BOS, eos_id=EOS, max_len=3, beam_size=2, length_penalty=-1)
