"""Locked and embedding dropout (one mask per sequence / per token id) and the AR / TAR penalties, by hand."""
import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.nn.dropout import EmbeddingDropout, LockedDropout
from rnnkit.nn.losses import activation_penalty, temporal_activation_penalty


def test_ar_and_tar_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [3.0, 1.0]]])              # (B=1, T=3, R=2)
    # AR: mean of 1, 4, 9, 0, 9, 1 = 24 / 6 = 4; times alpha 0.5
    assert activation_penalty(h, 0.5).item() == pytest.approx(2.0)
    # TAR: differences (2, -2), (0, 1): squares 4, 4, 0, 1, mean 9 / 4; times beta 2
    assert temporal_activation_penalty(h, 2.0).item() == pytest.approx(4.5)
    assert temporal_activation_penalty(h[:, :1], 2.0).item() == 0.0     # one step: no difference


def test_locked_dropout_keeps_one_mask_over_time_and_draws_one_per_row():
    torch.manual_seed(0)
    drop = LockedDropout(0.5)
    y = drop(torch.ones(8, 6, 16))                                       # (B, T, F)
    assert set(y.unique().tolist()) == {0.0, 2.0}                        # m / (1 - p)
    assert (y == y[:, :1]).all()                                         # the same at every step
    assert len({tuple(row[0].tolist()) for row in y}) == 8               # a mask per row
    assert torch.equal(drop.eval()(y), y)


def test_embedding_dropout_drops_every_occurrence_of_a_token_together():
    torch.manual_seed(3)
    weight = torch.randn(12, 4, requires_grad=True)
    ids = torch.arange(12).repeat(3, 2)                                  # (3, 24): each id six times
    e = EmbeddingDropout(0.5)(weight, ids)                               # (3, 24, 4)
    dropped = e.abs().sum(-1) == 0                                       # (3, 24)
    by_token = {int(i): set(dropped[ids == i].tolist()) for i in range(12)}
    assert all(len(kinds) == 1 for kinds in by_token.values())           # all occurrences alike
    kept = [i for i, kinds in by_token.items() if kinds == {False}]
    assert 0 < len(kept) < 12
    torch.testing.assert_close(e[ids == kept[0]], (2.0 * weight[kept[0]]).expand(6, 4).detach())
    e.sum().backward()
    assert (weight.grad[[i for i in range(12) if i not in kept]] == 0).all()
    torch.testing.assert_close(weight.grad[kept], torch.full((len(kept), 4), 12.0))   # 6 uses x 1/(1-p)
    model = EmbeddingDropout(0.5).eval()
    assert torch.equal(model(weight, ids), F.embedding(ids, weight))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_locked_dropout_between_layers_keeps_the_fused_path(bidirectional):
    torch.manual_seed(0)
    stack = rnnkit.GRU(3, 5, num_layers=2, dropout=0.5, locked_dropout=True, bidirectional=bidirectional).train()
    assert stack.fast_path.startswith("fused")
    first = rnnkit.GRU(3, 5, bidirectional=bidirectional)
    second = rnnkit.GRU(first.num_directions * 5, 5, bidirectional=bidirectional)
    d = first.num_directions
    for k in range(d):
        first.cells[k].load_state_dict(stack.cells[k].state_dict())
        second.cells[k].load_state_dict(stack.cells[d + k].state_dict())
    x = torch.randn(4, 7, 3)
    torch.manual_seed(9)
    y, _ = stack(x)
    torch.manual_seed(9)
    mask = torch.empty(4, 1, 5 * d).bernoulli_(0.5).div_(0.5)            # (B, 1, D*H): one per row
    expected, _ = second(first(x)[0] * mask)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
