"""Layer normalisation over gate blocks, and the (optionally normalised) matrix product.

``LNb(Z)`` splits ``Z (B, G*H)`` into G blocks of H columns and normalises each block of
each row on its own, with the biased variance and no shift of its own::

    mu   = mean(z)                       over the H columns of one block
    var  = mean((z - mu)^2)
    zhat = (z - mu) / sqrt(var + 1e-5)

``matmul_forward`` is the term every cell builds its pre-activations from::

    out = X W^T                          plain
    out = LNb(X W^T) * ln_weight         with layer normalisation (ln_weight (G*H))
"""
from __future__ import annotations

import numpy as np

EPS = 1e-5


def ln_blocks_forward(z: np.ndarray, n_blocks: int) -> tuple[np.ndarray, tuple]:
    """``zhat = LNb(z)`` for ``z (B, G*H)`` with G = ``n_blocks``; returns ``(zhat, cache)``."""
    B, GH = z.shape
    zb = z.reshape(B, n_blocks, GH // n_blocks)                # (B, G, H)
    mu = zb.mean(axis=2, keepdims=True)                        # (B, G, 1)
    var = ((zb - mu) ** 2).mean(axis=2, keepdims=True)         # biased variance
    rstd = 1.0 / np.sqrt(var + EPS)                            # (B, G, 1)
    zhat = (zb - mu) * rstd                                    # (B, G, H)
    return zhat.reshape(B, GH), (zhat, rstd)


def ln_blocks_backward(dzhat: np.ndarray, cache: tuple) -> np.ndarray:
    """dL/dz from dL/dzhat for ``zhat = LNb(z)``.

    Per block: ``dz = rstd * (dzhat - mean(dzhat) - zhat * mean(dzhat * zhat))``, the
    Jacobian of ``(z - mu) / sqrt(var + eps)`` applied to dzhat (mu and var depend on z).
    """
    zhat, rstd = cache
    B, G, H = zhat.shape
    dzh = dzhat.reshape(B, G, H)
    dz = rstd * (dzh - dzh.mean(axis=2, keepdims=True)                    # d/dz through mu
                 - zhat * (dzh * zhat).mean(axis=2, keepdims=True))       # d/dz through var
    return dz.reshape(B, G * H)


def matmul_forward(X: np.ndarray, W: np.ndarray, ln_weight: np.ndarray | None,
                   n_blocks: int) -> tuple[np.ndarray, tuple]:
    """``out = X W^T``, or ``LNb(X W^T) * ln_weight`` when ``ln_weight`` is given.

    Arguments:
        X: ``(B, K)``; W: ``(G*H, K)``; ln_weight: ``(G*H,)`` or None; n_blocks: G.
    Returns:
        ``(out (B, G*H), cache)``.
    """
    z = X @ W.T                                                # (B, G*H)
    if ln_weight is None:
        return z, (X, W, None, None, None)
    zhat, ln_cache = ln_blocks_forward(z, n_blocks)
    return zhat * ln_weight, (X, W, ln_weight, zhat, ln_cache)


def matmul_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward of ``matmul_forward``: returns ``(dX, dW, dln_weight or None)``."""
    X, W, ln_weight, zhat, ln_cache = cache
    dln = None
    dz = dout
    if ln_weight is not None:
        dln = (dout * zhat).sum(axis=0)                        # dL/dln_weight = sum_b dout * zhat
        dz = ln_blocks_backward(dout * ln_weight, ln_cache)    # dL/dz through zhat = LNb(z)
    dW = dz.T @ X                                              # dL/dW = dz^T X   (z = X W^T)
    dX = dz @ W                                                # dL/dX = dz W
    return dX, dW, dln
