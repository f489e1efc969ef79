"""Attention scores against hand-written formulas; masking gives padding exactly zero weight."""
import pytest
import torch

from rnnkit.nn.attention import SCORES, Attention, masked_softmax

B, S, Q = 3, 5, 4


def _inputs(key_size=Q):
    query = torch.randn(B, Q, dtype=torch.float64)
    keys = torch.randn(B, S, key_size, dtype=torch.float64)
    mask = torch.arange(S)[None, :] < torch.tensor([5, 3, 1])[:, None]             # (B, S)
    return query, keys, mask


def _energies_by_hand(attention, query, keys):
    """e[b, s] for every (b, s) pair, written one pair at a time from the formulas."""
    e = torch.empty(B, S, dtype=torch.float64)
    for b in range(B):
        for s in range(S):
            q, k = query[b], keys[b, s]
            if attention.score == "luong-dot":
                e[b, s] = q @ k
            elif attention.score == "luong-general":
                e[b, s] = q @ attention.key_proj.weight @ k                        # q^T W_a k
            else:
                hidden = torch.tanh(attention.query_proj.weight @ q + attention.query_proj.bias
                                    + attention.key_proj.weight @ k)
                e[b, s] = attention.energy.weight[0] @ hidden                      # v^T tanh(...)
    return e


@pytest.mark.parametrize("score", SCORES)
def test_weights_and_context_match_the_formulas(score):
    key_size = Q if score == "luong-dot" else 6
    attention = Attention(score, Q, key_size, attention_size=7).double()
    query, keys, mask = _inputs(key_size)
    context, weights = attention(query, keys, mask)
    e = _energies_by_hand(attention, query, keys)
    expected = torch.zeros(B, S, dtype=torch.float64)
    for b in range(B):
        valid = mask[b]
        expected[b, valid] = torch.exp(e[b, valid]) / torch.exp(e[b, valid]).sum()
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, torch.einsum("bs,bsk->bk", expected, keys))


@pytest.mark.parametrize("score", SCORES)
def test_weights_sum_to_one_and_padding_gets_exactly_zero(score):
    attention = Attention(score, Q, Q)
    query, keys, mask = (t.float() if t.is_floating_point() else t for t in _inputs())
    _, weights = attention(query, keys, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum())))
    assert weights[2, 0] == 1.0                                                    # one valid position


@pytest.mark.parametrize("score", SCORES)
def test_padded_keys_change_nothing_and_receive_no_gradient(score):
    attention = Attention(score, Q, Q).double()
    query, keys, mask = _inputs()
    noisy = torch.where(mask[:, :, None], keys, 100 * torch.randn_like(keys)).requires_grad_()
    context, weights = attention(query, noisy, mask)
    reference, reference_weights = attention(query, keys, mask)
    torch.testing.assert_close(context, reference)
    torch.testing.assert_close(weights, reference_weights)
    context.sum().backward()
    assert torch.equal(noisy.grad[~mask], torch.zeros_like(noisy.grad[~mask]))
    assert noisy.grad[mask].abs().sum() > 0


def test_prepared_keys_give_the_same_result():
    attention = Attention("bahdanau", Q, 6)
    query, keys, mask = torch.randn(B, Q), torch.randn(B, S, 6), None
    prepared = attention.prepare(keys)
    for got, want in zip(attention(query, keys, mask, prepared), attention(query, keys, mask)):
        torch.testing.assert_close(got, want)


def test_masked_softmax_without_mask_is_softmax():
    scores = torch.randn(2, 4)
    torch.testing.assert_close(masked_softmax(scores, None), scores.softmax(-1))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="score: expected one of bahdanau"):
        Attention("concat", Q, Q)
    with pytest.raises(ValueError, match="key_size: luong-dot .* key_size == query_size=4, got 6"):
        Attention("luong-dot", Q, 6)
    with pytest.raises(ValueError, match="query_size: expected a positive integer"):
        Attention("bahdanau", 0, Q)
    attention = Attention("luong-general", Q, 6)
    with pytest.raises(ValueError, match=r"query: expected shape \(B, 4\), got \(3, 5\)"):
        attention(torch.randn(B, 5), torch.randn(B, S, 6))
    with pytest.raises(ValueError, match=r"keys: expected shape \(B, S, 6\), got \(3, 5, 4\)"):
        attention(torch.randn(B, Q), torch.randn(B, S, 4))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3, 5\) \(B, S\), got \(3, 4\)"):
        attention(torch.randn(B, Q), torch.randn(B, S, 6), torch.ones(B, 4, dtype=torch.bool))
