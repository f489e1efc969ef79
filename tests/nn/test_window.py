"""Graves' window: it slides monotonically, reads nothing past a row's end, and steps as it runs whole."""
import math

import pytest
import torch

from rnnkit.nn.window import GravesWindow

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_narrow_window_moving_one_position_a_step_reads_the_sequence_in_order():
    window = GravesWindow(3, bumps=1)
    with torch.no_grad():
        window.linear.weight.zero_()
        window.linear.bias.copy_(torch.tensor([0.0, math.log(50.0), 0.0]))     # α = 1, β = 50, κ += 1
    c = torch.arange(12.0).reshape(1, 4, 3)                                      # (B, U, D)
    with torch.no_grad():
        w, phi, kappa = window(torch.zeros(1, 5, 3), c, torch.tensor([3]))
    torch.testing.assert_close(w[0, :2], c[0, 1:3], atol=1e-6, rtol=0)           # κ_t = t + 1
    assert float(w[0, 3:].abs().max()) < 1e-6                                    # past the 3 valid positions
    assert float(phi[0, :, 3].abs().max()) == 0.0                                # the padded position is never read
    assert kappa.tolist() == [[5.0]]


def test_kappa_only_grows_and_stepping_equals_the_whole_sequence():
    torch.manual_seed(0)
    window = GravesWindow(4, bumps=3)
    h, c, lengths = torch.randn(2, 6, 4), torch.randn(2, 5, 7), torch.tensor([5, 2])
    with torch.no_grad():
        w, phi, kappa = window(h, c, lengths)
        steps, k = [], None
        for t in range(6):
            w_t, _, k = window(h[:, t:t + 1], c, lengths, k)
            steps.append(w_t)
        _, _, first = window(h[:, :1], c, lengths)
    torch.testing.assert_close(torch.cat(steps, 1), w)
    torch.testing.assert_close(k, kappa)
    assert bool((kappa > first).all())
    assert bool((phi >= 0).all()) and float(phi[1, :, 2:].abs().max()) == 0.0
