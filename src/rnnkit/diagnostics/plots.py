"""PNG figures of the gradient flow (matplotlib's Agg canvas; no display, no global pyplot state)."""
from __future__ import annotations

from pathlib import Path

import torch

from .flow import GradientFlow


def _figure(width: float = 6.0, height: float = 4.0):
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plots need matplotlib; pip install 'rnnkit[train]'") from err
    return Figure(figsize=(width, height), layout="constrained")


def plot_heatmap(flow: GradientFlow, path: str | Path, layer: int = 0, title: str = "") -> Path:
    """The (t, k) map of ``log10 ‖∂L_t/∂h_k‖`` for one layer (blank above the diagonal, k > t).

    Returns the path written.
    """
    norms = flow.norms[layer]                                                      # (T, T)
    lower = torch.ones_like(norms, dtype=torch.bool).tril()
    logs = torch.where(lower & (norms > 0), norms.clamp_min(1e-300).log10(), torch.full_like(norms, float("nan")))
    figure = _figure(5.5, 4.5)
    axes = figure.add_subplot()
    image = axes.imshow(logs.numpy(), origin="upper", aspect="auto", cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="log10 ‖∂L_t/∂h_k‖")
    axes.set_xlabel("k (state)")
    axes.set_ylabel("t (loss)")
    axes.set_title(title or f"gradient flow, layer {layer}")
    figure.savefig(path, dpi=90)
    return Path(path)


def plot_curves(curves: dict[str, torch.Tensor], path: str | Path, ylabel: str, title: str = "") -> Path:
    """Curves against the lag d on a log scale, one per label (non-positive values are left out).

    Returns the path written.
    """
    figure = _figure()
    axes = figure.add_subplot()
    for label, curve in curves.items():
        values = curve.double()
        lags = torch.arange(len(values))
        keep = torch.isfinite(values) & (values > 0)
        axes.semilogy(lags[keep].numpy(), values[keep].numpy(), label=label)
    axes.set_xlabel("lag d = t - k (steps back)")
    axes.set_ylabel(ylabel)
    axes.grid(True, which="major", alpha=0.3)
    if title:
        axes.set_title(title)
    if len(curves) > 1:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=90)
    return Path(path)
