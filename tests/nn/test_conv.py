"""The CNN encoder: the grid is the last block's output region by region, the vector its projected mean."""
import pytest
import torch

from rnnkit.nn.conv import ConvEncoder


def test_grid_and_vector_shapes_and_definition():
    encoder = ConvEncoder((4, 8, 6), feature_size=5).eval()
    images = torch.randn(2, 3, 32, 24)
    features = encoder(images)
    assert features.shape == (4, 3) and features.grid.shape == (2, 12, 6) and features.vector.shape == (2, 5)
    last = images
    for block in encoder.blocks:
        last = block(last)                                                  # (2, 6, 4, 3)
    torch.testing.assert_close(features.grid[:, 1 * 3 + 2], last[:, :, 1, 2])    # row-major regions
    torch.testing.assert_close(features.vector, torch.relu(encoder.project(last.mean(dim=(2, 3)))))
    assert (features.vector >= 0).all()


def test_each_image_is_encoded_alone_in_eval_mode_and_gradients_reach_the_first_conv():
    encoder = ConvEncoder((4, 4), feature_size=3).eval()
    images = torch.randn(3, 3, 8, 8)
    together = encoder(images).vector
    torch.testing.assert_close(together[1:2], encoder(images[1:2]).vector)
    encoder.train()
    encoder(images).vector.sum().backward()
    assert encoder.blocks[0][0].weight.grad.abs().sum() > 0


def test_bad_shapes_and_settings_are_named():
    with pytest.raises(ValueError, match="channels: expected positive integers"):
        ConvEncoder(())
    with pytest.raises(ValueError, match="feature_size"):
        ConvEncoder((4,), feature_size=0)
    encoder = ConvEncoder((4, 4))
    with pytest.raises(ValueError, match=r"images: expected sides divisible by 4 \(2 pooling blocks\), got \(10, 8\)"):
        encoder(torch.zeros(1, 3, 10, 8))
    with pytest.raises(ValueError, match=r"images: expected shape \(B, 3, S, S\)"):
        encoder(torch.zeros(1, 1, 8, 8))
