"""StreamBatches: contiguous rows, next-token targets, k1/k2 windows, sharding by rows."""
import pytest
import torch

import rnnkit
from rnnkit.data.streams import Batch, StreamBatches


def test_rows_are_contiguous_and_targets_are_next_tokens():
    ids = torch.arange(103)
    batches = list(StreamBatches(ids, batch_size=4, seq_len=7))
    assert len(batches) == len(StreamBatches(ids, 4, 7)) == 4          # rows of 25 steps: 7+7+7+4
    x = torch.cat([b.x for b in batches], dim=1)                        # (4, 25)
    y = torch.cat([b.y for b in batches], dim=1)
    assert torch.equal(x, torch.arange(100).view(4, 25))
    assert torch.equal(y, x + 1)
    assert [b.x.shape[1] for b in batches] == [7, 7, 7, 4]
    assert all(b.loss_from == 0 and b.state_at == b.x.shape[1] for b in batches)
    assert batches[0].count == 28 and batches[-1].count == 16


def test_bptt_windows_overlap_by_k2_minus_k1():
    ids = torch.arange(41)                    # 2 rows of 20 steps
    batches = list(StreamBatches(ids, batch_size=2, seq_len=5, bptt=8))
    windows = [(int(b.x[0, 0]), int(b.x[0, -1]) + 1, b.loss_from, b.state_at) for b in batches]
    # batch j: window [max(0, 5j - 3), 5j + 5); the loss on the 5 new steps; the next window starts state_at in
    assert windows == [(0, 5, 0, 2), (2, 10, 3, 5), (7, 15, 3, 5), (12, 20, 3, 5)]
    assert all(b.count == 10 for b in batches)
    assert [int(b.x[0, b.state_at]) if b.state_at < b.x.shape[1] else None for b in batches[:-1]] == \
        [int(b.x[0, 0]) for b in batches[1:]]


def run_window(layer, x, state, state_at):
    """Runs ``layer`` over the window ``x (B, T, F)``; returns the outputs and the state after ``state_at`` steps."""
    if state_at == 0:
        return layer(x, state)[0], state
    head, carried = layer(x[:, :state_at], state)                     # (B, state_at, H)
    if state_at == x.shape[1]:
        return head, carried
    tail, _ = layer(x[:, state_at:], carried)                         # (B, T - state_at, H)
    return torch.cat([head, tail], 1), carried


@pytest.fixture
def one_thread():
    """Tiny matrices: one intra-op thread avoids OpenMP spin-waits on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_state_at_gives_the_exact_state_for_the_next_window(one_thread):
    """With the state carried from state_at, k2 > k1 reproduces the k2 == k1 outputs on the new steps."""
    lstm, embed = rnnkit.LSTM(4, 6), torch.nn.Embedding(10, 4)
    ids = torch.randint(10, (121,))

    def new_step_outputs(stream):
        outputs, state = [], None
        with torch.no_grad():
            for batch in stream:
                out, state = run_window(lstm, embed(batch.x), state, batch.state_at)
                outputs.append(out[:, batch.loss_from:])
        return torch.cat(outputs, 1)

    plain = new_step_outputs(StreamBatches(ids, 3, 6))
    for k2 in (6, 9, 12, 15):
        assert torch.allclose(new_step_outputs(StreamBatches(ids, 3, 6, bptt=k2)), plain, atol=1e-6)


def test_shard_splits_rows():
    stream = StreamBatches(torch.arange(81), batch_size=5, seq_len=4)
    shards = [stream.shard(rank, 2) for rank in range(2)]
    assert [s.batch_size for s in shards] == [2, 2] and len(shards[0]) == len(stream)
    for full, first, second in zip(stream, *shards):
        assert torch.equal(torch.cat([first.x, second.x]), full.x[:4])
        assert torch.equal(torch.cat([first.y, second.y]), full.y[:4])
    assert StreamBatches.carry_state and shards[0].carry_state


def test_batch_to_moves_tensors():
    batch = Batch(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long), loss_from=1, state_at=2)
    moved = batch.to("meta")
    assert moved.x.device.type == "meta" and (moved.loss_from, moved.state_at) == (1, 2)


@pytest.mark.parametrize("args, kwargs, message", [
    ((torch.arange(10.0), 2, 3), {}, "ids: expected a 1-d LongTensor"),
    ((torch.arange(10), 0, 3), {}, "batch_size: expected a positive integer"),
    ((torch.arange(10), 2, 3), {"bptt": 2}, "bptt: expected an integer k2 >= seq_len=3"),
    ((torch.arange(4), 4, 3), {}, "cannot fill batch_size=4 rows"),
])
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        StreamBatches(*args, **kwargs)


def test_shard_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank: expected 0 <= rank < world_size=2"):
        StreamBatches(torch.arange(20), 2, 3).shard(2, 2)
