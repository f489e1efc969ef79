r"""A small convolutional image encoder, trained from scratch: a global feature vector and a spatial grid.

For an image ``x (B, 3, S, S)`` (normalised) and channels ``C_1 .. C_n``::

    a^0 = x
    a^k = maxpool_2x2(ReLU(BN(conv_3x3(a^{k-1}))))        (B, C_k, S / 2^k, S / 2^k),  k = 1 .. n
    grid: a_1 .. a_L = the columns of a^n                  (B, L, C_n),  L = (S / 2^n)^2, row-major
    X = ReLU(W_f (1/L Σ_l a_l) + b_f)                      (B, F)   the global feature vector

``X`` plays the part of the textbook's "CNN features before the classifier" (a 4096-d fc7 vector
in the VGG of the original papers); the grid holds one feature vector per image region, the
annotation vectors a_l that soft attention weighs (Xu et al. 2015).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class ConvFeatures(NamedTuple):
    """What :class:`ConvEncoder` returns.

    Attributes:
        vector: ``X (B, F)``.  grid: ``(B, L, C)`` region features, row-major.  shape: ``(h, w)``, h * w = L.
    """

    vector: torch.Tensor
    grid: torch.Tensor
    shape: tuple[int, int]


class ConvEncoder(nn.Module):
    """conv–BN–ReLU–pool blocks, then the grid and the global vector (module docstring).

    Arguments:
        channels: ``C_1 .. C_n``, one block each (the image side must be divisible by 2^n).
        feature_size: F.  in_channels: 3 for RGB.
    Parameters: ``blocks.k.0`` (conv), ``blocks.k.1`` (batch norm) per block; ``project`` (W_f, b_f).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256), feature_size: int = 256,
                 in_channels: int = 3):
        super().__init__()
        if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
            raise ValueError(f"channels: expected positive integers, one per block, got {channels!r}")
        if isinstance(feature_size, bool) or not isinstance(feature_size, int) or feature_size < 1:
            raise ValueError(f"feature_size: expected a positive integer, got {feature_size!r}")
        sizes = (in_channels, *channels)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                          nn.ReLU(inplace=True), nn.MaxPool2d(2))
            for c_in, c_out in zip(sizes, sizes[1:]))
        self.project = nn.Linear(channels[-1], feature_size)
        self.grid_size, self.feature_size, self.in_channels = channels[-1], feature_size, in_channels

    def forward(self, images: torch.Tensor) -> ConvFeatures:
        """``images (B, in_channels, S, S)`` -> :class:`ConvFeatures`."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != self.in_channels:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images: expected shape (B, {self.in_channels}, S, S), got {got}")
        side = 2 ** len(self.blocks)
        if images.shape[2] % side or images.shape[3] % side:
            raise ValueError(f"images: expected sides divisible by {side} ({len(self.blocks)} pooling blocks), "
                             f"got {tuple(images.shape[2:])}")
        a = images
        for block in self.blocks:
            a = block(a)                                                          # (B, C_k, S/2^k, S/2^k)
        grid = a.flatten(2).transpose(1, 2)                                       # (B, L, C)
        vector = torch.relu(self.project(grid.mean(dim=1)))                       # (B, F)
        return ConvFeatures(vector, grid, (a.shape[2], a.shape[3]))
