"""Zoneout's counter-based draws (kernels/draws.py, csrc/draws.h): splitmix64 against a plain-Python
reference, the same draws from the C++ loops and the torch ops, Bernoulli(p) statistics."""
import pytest
import torch

from rnnkit.kernels import draws, native
from rnnkit.kernels.sequence import zoneout_factors

from kernelcases import use_engine

MASK = (1 << 64) - 1


def splitmix64_reference(seed, index):
    z = (seed + (index + 1) * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


@pytest.mark.parametrize("seed", [0, 1, -5, (1 << 62) + 7, -(1 << 63)])
def test_splitmix64_in_torch_ops_is_the_reference(seed):
    words = draws.splitmix64(seed, torch.arange(9, dtype=torch.int64))
    assert [w & MASK for w in words.tolist()] == [splitmix64_reference(seed & MASK, i) for i in range(9)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 3, 4, 5, 2049, 100_003])
def test_the_cpp_loops_and_the_torch_ops_draw_the_same(n, dtype, monkeypatch, two_threads):
    """A seed gives the same mask on either path (the C++ words split over two threads here)."""
    like = torch.zeros((), dtype=dtype)
    drawn = {}
    for engine in ("torch", "native"):
        use_engine(engine, monkeypatch)
        torch.manual_seed(9)
        drawn[engine] = draws.bernoulli(6554, n, like)
    assert drawn["native"].dtype == dtype and drawn["native"].shape == (n,)
    assert torch.equal(drawn["native"], drawn["torch"])


@pytest.mark.parametrize("engine", ["torch", "native"])
def test_zoneout_draws_are_bernoulli_p_and_independent(engine, monkeypatch):
    use_engine(engine, monkeypatch)
    like = torch.zeros(())
    torch.manual_seed(0)
    d_h, d_c = zoneout_factors(0.1, True, [(50, 40, 30), (50, 40, 20)], like)
    assert d_h.shape == (50, 40, 30) and d_c.shape == (50, 40, 20)
    for d in (d_h, d_c):
        assert set(d.unique().tolist()) == {0.0, 1.0}
        assert abs(d.mean().item() - 0.1) < 4 * (0.1 * 0.9 / d.numel()) ** 0.5
    both = (d_h[..., :20] * d_c).mean().item()                    # independent: P(both) = p^2
    assert abs(both - 0.01) < 4 * (0.01 * 0.99 / d_c.numel()) ** 0.5
    lanes = d_h.flatten()[:4000].view(-1, 4)                       # the four lanes of a word: independent too
    assert abs((lanes[:, 0] * lanes[:, 1]).mean().item() - 0.01) < 4 * (0.01 * 0.99 / 1000) ** 0.5
    assert not torch.equal(d_h, zoneout_factors(0.1, True, [(50, 40, 30)], like)[0])    # fresh per call
    torch.manual_seed(0)
    assert torch.equal(d_h, zoneout_factors(0.1, True, [(50, 40, 30), (50, 40, 20)], like)[0])   # seeded
    assert zoneout_factors(0.999999, True, [(4, 3)], like)[0].eq(1).all()
    assert zoneout_factors(0.3, False, [(4, 3), (4, 2)], like) == [0.3, 0.3]
    assert zoneout_factors(0.0, True, [(4, 3)], like) == [None]
