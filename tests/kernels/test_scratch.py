"""The kernels' reused CPU buffers (kernels/scratch.py): never handed out while anything holds them."""
import pytest
import torch

import rnnkit
from rnnkit.kernels import scratch

from kernelcases import use_engine


def fresh_pool(monkeypatch):
    """An empty pool for one test (the process's own buffers and their count untouched)."""
    monkeypatch.setattr(scratch, "_buffers", scratch.OrderedDict())
    monkeypatch.setattr(scratch, "_kept", 0)


def pool_bytes() -> int:
    return sum(b.numel() * b.element_size() for bases in scratch._buffers.values() for b in bases)


def test_a_buffer_is_reused_only_when_nothing_holds_it(monkeypatch):
    fresh_pool(monkeypatch)
    like = torch.zeros(())
    a = scratch.empty(like, 6, 7)
    b = scratch.empty(like, 6, 7)
    assert a.shape == (6, 7) and a.dtype == like.dtype
    assert a.data_ptr() != b.data_ptr()                       # both in use
    part = a[2:]                                              # a view keeps the storage in use
    pointer = a.data_ptr()
    del a
    assert scratch.empty(like, 6, 7).data_ptr() not in (pointer, b.data_ptr())
    del part
    c = scratch.empty(like, 3, 14, zero=True)                 # same size, other shape: reused, zeroed
    assert c.data_ptr() == pointer and c.shape == (3, 14) and not c.any()
    assert scratch.empty(torch.zeros((), dtype=torch.float64), 6, 7).dtype == torch.float64


def test_views_share_one_buffer_that_stays_in_use_while_any_is_held(monkeypatch):
    fresh_pool(monkeypatch)
    like = torch.zeros(())
    a, none, b = scratch.empty_views(like, (2, 3), None, (4,))
    assert none is None and a.shape == (2, 3) and b.shape == (4,)
    assert b.data_ptr() == a.data_ptr() + 6 * a.element_size()          # consecutive in one buffer
    assert scratch.kept_bytes() == 10 * a.element_size()
    pointer = a.data_ptr()
    del a
    assert scratch.empty(like, 10).data_ptr() != pointer                 # b still holds the buffer
    del b
    assert scratch.empty(like, 10).data_ptr() == pointer
    assert scratch.empty_views(like, None, None) == (None, None)


def test_kept_memory_is_bounded(monkeypatch):
    fresh_pool(monkeypatch)
    monkeypatch.setattr(scratch, "LIMIT_BYTES", 4000)
    like = torch.zeros(())
    for n in range(100, 130):                                 # thirty shapes, each freed at once
        scratch.empty(like, n)
    assert scratch.kept_bytes() <= 4000
    assert scratch.kept_bytes() == pool_bytes()               # the running count is the pool's size
    held = [scratch.empty(like, 2000) for _ in range(3)]      # in use: kept whatever the limit
    assert scratch.kept_bytes() >= 3 * 2000 * 4
    del held
    scratch.empty(like, 10)                                   # the next call evicts what is free again
    assert scratch.kept_bytes() == pool_bytes() <= 4000
    scratch.clear()
    assert scratch.kept_bytes() == 0


def test_training_steps_reuse_the_backward_factors_and_keep_their_values(monkeypatch):
    """A second training step takes the first one's buffers (after its backward freed them) and gives
    the same gradients; a retained graph keeps its buffers out of reach for a second backward."""
    fresh_pool(monkeypatch)
    use_engine("native", monkeypatch)
    layer = rnnkit.LSTM(5, 16, layer_norm=True, peephole=True)
    x = torch.randn(4, 9, 5)
    grads, kept = [], []
    for _ in range(2):
        layer.zero_grad()
        layer(x)[0].pow(2).sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
        kept.append(scratch.kept_bytes())
    assert kept[0] > 0 and kept[1] == kept[0]                 # the second step allocated nothing new
    for first, second in zip(*grads):
        torch.testing.assert_close(first, second, atol=0, rtol=0)
    layer.zero_grad()
    loss = layer(x)[0].pow(2).sum()
    loss.backward(retain_graph=True)
    once = [p.grad.clone() for p in layer.parameters()]
    layer(x)[0].sum().backward()                              # another graph meanwhile: other buffers
    layer.zero_grad()
    loss.backward()
    for got, want in zip((p.grad for p in layer.parameters()), once):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize("kind, gates", [("LSTM", 4), ("GRU", 3)])
def test_the_input_gradient_handed_to_autograd_is_pooled_and_kept_while_held(monkeypatch, kind, gates):
    """With the input-side layer norm the kernel returns dL/dz_in (T, B, G H) from the pool (fresh pages for
    it were most of a step's page faults); a hook that keeps it keeps its values through later steps."""
    fresh_pool(monkeypatch)
    use_engine("native", monkeypatch)
    layer = getattr(rnnkit, kind)(5, 16, layer_norm=True)
    x = torch.randn(4, 9, 5)
    held = []

    def kernel_node(fn):
        while f"{kind}Kernel" not in fn.name():
            fn = next(f for f, _ in fn.next_functions if f is not None)
        return fn

    for step in range(3):
        layer.zero_grad()
        y = layer(x * (step + 1))[0]
        if step == 0:
            kernel_node(y.grad_fn).register_hook(lambda grad_in, grad_out: held.append(grad_in[0]))
        y.pow(2).sum().backward()
        if step == 0:
            first = held[0].clone()
    pooled = {b.untyped_storage().data_ptr() for bases in scratch._buffers.values() for b in bases}
    assert held[0].shape == (9, 4, gates * 16) and held[0].untyped_storage().data_ptr() in pooled
    torch.testing.assert_close(held[0], first, atol=0, rtol=0)          # steps 2 and 3 took other buffers
