"""The mixture density head: its NLL against the NumPy float64 reference, gradients against the reference's
hand-derived ones and finite differences, its stable forms, and what the temperature does to samples."""
import numpy as np
import pytest
import torch

from rnnkit.nn.mdn import MixtureDensity, MixtureParams, log_one_minus_rho2, point_nll, sample, split_params
from rnnkit.reference import numerical_gradient
from rnnkit.reference.mdn import mdn_backward, mdn_forward

pytestmark = pytest.mark.usefixtures("one_thread")
N, M, P = 7, 3, 3
NAMES = ("logit_pi", "mu", "log_sigma", "rho_logit", "pen_logits")


def random_case(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"logit_pi": rng.normal(size=(N, M)), "mu": rng.normal(size=(N, M, 2)),
              "log_sigma": rng.normal(scale=0.5, size=(N, M, 2)), "rho_logit": rng.normal(size=(N, M)),
              "pen_logits": rng.normal(size=(N, P))}
    xy, pen = rng.normal(size=(N, 2)), rng.integers(0, P, size=N)
    return arrays, xy, pen


def torch_loss(arrays, xy, pen):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    offsets, pens = point_nll(MixtureParams(*(tensors[k] for k in NAMES)), torch.tensor(xy), torch.tensor(pen))
    return (offsets + pens).sum(), tensors


def test_nll_equals_the_numpy_reference():
    arrays, xy, pen = random_case()
    loss, _ = torch_loss(arrays, xy, pen)
    expected, _ = mdn_forward(*(arrays[k] for k in NAMES), xy, pen)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12)


def test_gradients_equal_the_hand_derived_reference_and_finite_differences():
    arrays, xy, pen = random_case(1)
    loss, tensors = torch_loss(arrays, xy, pen)
    loss.backward()
    _, cache = mdn_forward(*(arrays[k] for k in NAMES), xy, pen)
    analytic = mdn_backward(cache)
    for name in NAMES:
        np.testing.assert_allclose(tensors[name].grad.numpy(), analytic[name], rtol=1e-9, atol=1e-12, err_msg=name)
        numeric = numerical_gradient(lambda: mdn_forward(*(arrays[k] for k in NAMES), xy, pen)[0], arrays[name])
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_torch_gradcheck_in_float64():
    arrays, xy, pen = random_case(2)
    inputs = tuple(torch.tensor(arrays[k], requires_grad=True) for k in NAMES)
    target, pens = torch.tensor(xy), torch.tensor(pen)

    def f(*params):
        offsets, pen_nll = point_nll(MixtureParams(*params), target, pens)
        return (offsets + pen_nll).sum()

    assert torch.autograd.gradcheck(f, inputs, fast_mode=True)


def test_the_stable_forms_stay_finite_where_the_naive_ones_overflow():
    rho_logit = torch.tensor([0.0, 3.0, -30.0, 400.0], dtype=torch.float64)
    naive = torch.log(1 - torch.tanh(rho_logit) ** 2)
    stable = log_one_minus_rho2(rho_logit)
    assert torch.isinf(naive[2:]).all() and torch.isfinite(stable).all()
    np.testing.assert_allclose(stable[:2], naive[:2], rtol=1e-12)
    assert float(stable[3]) == pytest.approx(2 * (np.log(2) - 400), rel=1e-12)        # log 4 e^{-2|a|}
    far = MixtureParams(torch.tensor([[0.0, -1e4]]), torch.zeros(1, 2, 2), torch.tensor([[[-20.0, -20.0], [0, 0]]]),
                        torch.tensor([[30.0, 0.0]]), torch.zeros(1, 3))
    offsets, _ = point_nll(far, torch.tensor([[1.0, -1.0]]), torch.tensor([0]))
    assert torch.isfinite(offsets).all()                                   # every component's density underflows


def test_the_head_splits_its_linear_outputs_in_order():
    head = MixtureDensity(4, mixtures=2, pen_states=3)
    assert head.linear.out_features == 6 * 2 + 3
    y = torch.arange(15.0)
    params = split_params(y, 2)
    assert params.logit_pi.tolist() == [0, 1]
    assert params.mu.tolist() == [[2, 4], [3, 5]]
    assert params.log_sigma.tolist() == [[6, 8], [7, 9]]
    assert params.rho_logit.tolist() == [10, 11] and params.pen_logits.tolist() == [12, 13, 14]
    assert head(torch.zeros(5, 6, 4)).mu.shape == (5, 6, 2, 2)


def one_component(rho=0.6, sigma=(0.5, 2.0), rows=20000, pen=(0.0, 0.0, 0.0)):
    return MixtureParams(torch.zeros(rows, 1), torch.tensor([[[1.0, -2.0]]]).expand(rows, 1, 2),
                         torch.log(torch.tensor([[sigma]])).expand(rows, 1, 2),
                         torch.full((rows, 1), float(np.arctanh(rho))), torch.tensor([pen]).expand(rows, 3))


def test_samples_at_temperature_one_have_the_components_mean_and_covariance():
    xy, _ = sample(one_component(), 1.0, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(xy.mean(0), [1.0, -2.0], atol=0.05)
    cov = np.cov(xy.numpy().T)
    np.testing.assert_allclose(cov, [[0.25, 0.6 * 0.5 * 2.0], [0.6, 4.0]], rtol=0.06)


def test_temperature_scales_the_variance_and_sharpens_the_weights():
    cold, _ = sample(one_component(), 0.01, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(np.var(cold.numpy(), axis=0), [0.25 * 0.01, 4.0 * 0.01], rtol=0.06)   # σ² τ
    rows = 20000
    two = MixtureParams(torch.log(torch.tensor([[0.7, 0.3]])).expand(rows, 2),
                        torch.tensor([[[-10.0, 0.0], [10.0, 0.0]]]).expand(rows, 2, 2),
                        torch.full((rows, 2, 2), -3.0), torch.zeros(rows, 2),
                        torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(rows, 3))
    for temperature, share in ((1.0, 0.7), (0.5, 0.49 / 0.58)):                  # π^(1/τ), renormalised
        xy, pen = sample(two, temperature, torch.Generator().manual_seed(1))
        assert float((xy[:, 0] < 0).float().mean()) == pytest.approx(share, abs=0.015)
        assert float((pen == 0).float().mean()) == pytest.approx(0.7 if temperature == 1 else 0.49 / 0.54, abs=0.015)
    with pytest.raises(ValueError, match="temperature"):
        sample(two, 0.0)
