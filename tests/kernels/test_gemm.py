"""The kernels' products (oneDNN on CPU float32 where large enough, torch.mm otherwise) equal torch's."""
import pytest
import torch
import torch.nn.functional as F

from rnnkit.kernels import gemm


@pytest.mark.parametrize("rows", [4, 512], ids=["small-mm", "large-onednn"])
def test_linear_forward_and_backward_equal_f_linear(rows):
    x = torch.randn(rows, 3, 64, requires_grad=True)
    weight = torch.randn(256, 64, requires_grad=True)
    bias = torch.randn(256, requires_grad=True)
    g = torch.randn(rows, 3, 256)
    ours = torch.autograd.grad((gemm.linear(x, weight, bias) * g).sum(), [x, weight, bias])
    theirs = torch.autograd.grad((F.linear(x, weight, bias) * g).sum(), [x, weight, bias])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-4 * (1 + b.abs().max().item()), rtol=0)


def test_weight_grad_of_strided_views_and_step_products():
    d_all = torch.randn(30, 20, 384)
    d_out = d_all[..., :256]                                     # a column block, as the GRU's r, z rows
    inputs = torch.randn(30, 20, 128)
    expected = d_out.reshape(-1, 256).t() @ inputs.reshape(-1, 128)
    torch.testing.assert_close(gemm.weight_grad(d_out, inputs), expected, atol=1e-3, rtol=1e-5)
    weight = torch.randn(512, 128)
    x, shift = torch.randn(32, 128), torch.randn(32, 512)
    step = gemm.StepProduct(weight, 32)
    torch.testing.assert_close(step(x, shift=shift), shift + x @ weight.t(), atol=1e-4, rtol=1e-5)
    back = gemm.StepProduct(weight.t(), 32)                       # x' W for the backward products
    d = torch.randn(32, 512)
    torch.testing.assert_close(back(d), d @ weight, atol=1e-4, rtol=1e-5)
