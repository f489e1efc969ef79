"""Jacobian products through time and the spectra of the recurrent weights, against closed forms."""
import pytest
import torch

import rnnkit
from rnnkit.diagnostics import jacobian_norms, recurrent_spectra
from rnnkit.diagnostics.jacobian import step_jacobian


def test_srn_products_equal_the_closed_form():
    layer = rnnkit.SimpleRNN(2, 4).double()
    cell = layer.cell(0)
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    hidden, _ = layer(x)                                                           # (B, T, H)
    W = cell.weight_hh
    product = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    expected = [1.0]
    for j in range(5, 0, -1):                                  # ∂h_j/∂h_{j-1} = diag(1 - h_j²) W
        product = product @ ((1 - hidden[:, j] ** 2)[:, :, None] * W)
        expected.append(torch.linalg.matrix_norm(product, ord=2).mean().item())
    norms = jacobian_norms(layer, x)
    assert norms.shape == (1, 6)
    torch.testing.assert_close(norms[0], torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=0)


def test_lstm_step_jacobian_covers_h_and_c():
    cell = rnnkit.LSTMCell(2, 3, forget_bias=1.0).double()
    x_t = torch.randn(2, 2, dtype=torch.float64)
    state = rnnkit.LSTMState(torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64))
    jac = step_jacobian(cell, x_t, state)
    assert jac.shape == (2, 6, 6)

    def step(flat):
        _, (h, c) = cell(x_t[:1], rnnkit.LSTMState(flat[None, :3], flat[None, 3:]))
        return torch.cat([h, c], dim=-1)[0]

    full = torch.autograd.functional.jacobian(step, torch.cat(state, dim=-1)[0])
    torch.testing.assert_close(jac[0], full)
    # ∂c_t/∂c_{t-1} = diag(f): the forget gate itself
    a = x_t @ cell.weight_ih.T + state.h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh
    f = torch.sigmoid(a[:, 3:6] + 1.0)
    torch.testing.assert_close(jac[:, 3:, 3:], torch.diag_embed(f))


def test_spectra_of_every_gate_block():
    srn = rnnkit.SimpleRNN(2, 5, num_layers=2)
    spectra = recurrent_spectra(srn)
    assert [(s.layer, s.block) for s in spectra] == [(0, "W_hh"), (1, "W_hh")]
    W = srn.cell(1).weight_hh.detach().double()
    assert spectra[1].radius == pytest.approx(torch.linalg.eigvals(W).abs().max().item())
    assert spectra[1].norm == pytest.approx(torch.linalg.svdvals(W)[0].item())
    assert spectra[1].radius <= spectra[1].norm + 1e-12
    lstm = recurrent_spectra(rnnkit.LSTM(2, 4, proj_size=2))
    assert [s.block for s in lstm] == ["W_hi", "W_hf", "W_hg", "W_ho"]
    assert [s.block for s in recurrent_spectra(rnnkit.LSTM(2, 4, coupled=True))] == ["W_hi", "W_hg", "W_ho"]
    gru = rnnkit.GRU(2, 4)
    with torch.no_grad():
        gru.cell(0).weight_hh[8:] = 0.5 * torch.eye(4)
    assert [s.block for s in recurrent_spectra(gru)][2] == "W_hn"
    assert recurrent_spectra(gru)[2].radius == pytest.approx(0.5)
