r"""One diagnosis of a model on a batch: gradient flow, Jacobian products, spectra and a verdict.

A model is diagnosable when it exposes its recurrent stack and per-step losses::

    model.rnn                               a unidirectional rnnkit.SimpleRNN / LSTM / GRU
    model.rnn_input(batch) -> x             (B, T, I): what the stack reads
    model.step_losses(outputs, batch)       outputs (B, T, R) -> (B, T): the loss if it answered at t

The verdict looks at the relative gradient ``r(d) = by_lag(d) / by_lag(0)`` of every layer at the
reference lag ``d* = min(50, T - 1)``: *exploding* if a gradient is NaN/Inf or ``r(d*) > 10^3``,
*vanishing* if ``r(d*) < 10^-3``, else *healthy*. The per-step factor ``γ = r(d*)^(1/d*)`` is the
geometric mean shrink (< 1) or growth (> 1) of the gradient per step back in time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .flow import GradientFlow, gradient_flow
from .jacobian import Spectrum, jacobian_norms, recurrent_spectra
from .plots import plot_curves, plot_heatmap

REFERENCE_LAG = 50
VANISHING_BELOW = 1e-3
EXPLODING_ABOVE = 1e3
SUMMARY_LAGS = (1, 10, 50, 100, 200, 500, 1000, 2000, 5000)


def summary_lags(length: int) -> list[int]:
    """The lags a summary shows for sequences of ``length`` steps: 1, 10, 50, 100, ... below T, and T - 1."""
    lags = [d for d in SUMMARY_LAGS if d < length]
    return lags if lags and lags[-1] == length - 1 else [*lags, length - 1]


@dataclass
class FlowReport:
    """Everything :func:`diagnose` measures.

    Attributes:
        flow: ``‖∂L_t/∂h_k‖`` per layer (:class:`~rnnkit.diagnostics.flow.GradientFlow`).
        jacobian: ``(L, T)`` spectral norms of the Jacobian products by lag (:func:`jacobian_norms`),
            or None when not measured.
        spectra: ρ and σ_max of every layer's ``weight_hh`` blocks.
    """

    flow: GradientFlow
    jacobian: torch.Tensor | None
    spectra: list[Spectrum]

    @property
    def reference_lag(self) -> int:
        return min(REFERENCE_LAG, self.flow.length - 1)

    def layer_verdict(self, layer: int) -> str:
        """``"vanishing"``, ``"exploding"`` or ``"healthy"`` for one layer (module docstring)."""
        if not torch.isfinite(self.flow.norms[layer]).all():
            return "exploding"
        ratio = self.flow.relative_by_lag(layer)[self.reference_lag].item()
        if not math.isfinite(ratio) or ratio > EXPLODING_ABOVE:
            return "exploding"
        return "vanishing" if ratio < VANISHING_BELOW else "healthy"

    @property
    def verdict(self) -> str:
        """The worst layer's verdict: exploding over vanishing over healthy."""
        verdicts = {self.layer_verdict(l) for l in range(self.flow.num_layers)}
        return next(v for v in ("exploding", "vanishing", "healthy") if v in verdicts)

    def decay_per_step(self, layer: int) -> float:
        """γ: the geometric-mean factor by which the gradient changes per step back (NaN if not finite)."""
        ratio = self.flow.relative_by_lag(layer)[self.reference_lag].item()
        return ratio ** (1.0 / self.reference_lag) if ratio >= 0 else float("nan")

    def summary(self, title: str = "") -> str:
        """The text summary: gradient and Jacobian norms at lags 1, 10, 50, ..., spectra and the verdict."""
        T = self.flow.length
        lags = summary_lags(T)
        lines = [title] if title else []
        lines.append(f"sequence length T = {T}; gradient ‖∂L_t/∂h_(t-d)‖ averaged over t and the batch")
        header = "" if self.jacobian is None else f"  {'‖∏ ∂s_j/∂s_(j-1)‖':>18}"
        lines.append(f"{'layer':>5}  {'lag d':>6}  {'‖∂L_t/∂h_(t-d)‖':>16}  {'relative':>10}{header}")
        for l in range(self.flow.num_layers):
            curve, relative = self.flow.by_lag(l), self.flow.relative_by_lag(l)
            for d in [0, *lags]:
                jacobian = "" if self.jacobian is None else f"  {self.jacobian[l, d].item():>18.3e}"
                lines.append(f"{l:>5}  {d:>6}  {curve[d].item():>16.3e}  {relative[d].item():>10.3e}{jacobian}")
        lines.append("spectra of the recurrent weights (ρ = spectral radius, σ = largest singular value)")
        for spectrum in self.spectra:
            lines.append(f"  layer {spectrum.layer} {spectrum.block:<5} ρ = {spectrum.radius:.3f}  "
                         f"σ = {spectrum.norm:.3f}")
        for l in range(self.flow.num_layers):
            gamma = self.decay_per_step(l)
            lines.append(f"layer {l}: relative gradient at lag {self.reference_lag} = "
                         f"{self.flow.relative_by_lag(l)[self.reference_lag].item():.3e}, "
                         f"γ = {gamma:.4f} per step: {self.layer_verdict(l)}")
        lines.append(f"verdict: {self.verdict} (vanishing below {VANISHING_BELOW:g}, exploding above "
                     f"{EXPLODING_ABOVE:g} or non-finite, relative gradient at lag {self.reference_lag})")
        return "\n".join(lines)


def diagnose(model: nn.Module, batch: Any, *, jacobian_rows: int = 8) -> FlowReport:
    """Measures the gradient flow of a diagnosable model (module docstring) on one batch.

    Arguments:
        model: exposes ``rnn``, ``rnn_input(batch)`` and ``step_losses(outputs, batch)``.
        batch: one batch the model's ``loss`` accepts.
        jacobian_rows: rows of the batch used for the Jacobian products (0: leave them out).
    Returns:
        a :class:`FlowReport`. The model is put in evaluation mode for the measurement and restored.
    """
    missing = [name for name in ("rnn", "rnn_input", "step_losses") if not hasattr(model, name)]
    if missing:
        raise ValueError(f"model: {type(model).__name__} lacks {', '.join(missing)}; gradient-flow diagnostics need "
                         "model.rnn, model.rnn_input(batch) and model.step_losses(outputs, batch)")
    was_training = model.training
    model.eval()
    try:
        x = model.rnn_input(batch)                                                 # (B, T, I)
        if x.dim() != 3 or x.shape[1] < 2:
            raise ValueError(f"batch: expected sequences of at least 2 steps (B, T, I), got shape {tuple(x.shape)}")
        flow = gradient_flow(model.rnn, x, lambda outputs: model.step_losses(outputs, batch))
        jacobian = jacobian_norms(model.rnn, x.detach(), max_rows=jacobian_rows) if jacobian_rows else None
        spectra = recurrent_spectra(model.rnn)
    finally:
        model.train(was_training)
    return FlowReport(flow, jacobian, spectra)


def write_report(report: FlowReport, directory: str | Path, title: str = "") -> list[Path]:
    """Writes ``summary.txt``, ``gradient_by_lag.png`` and one ``gradient_heatmap[_layerL].png`` per layer.

    ``gradient_by_lag.png`` shows, per layer, the relative gradient ``by_lag(d) / by_lag(0)`` and the
    Jacobian-product norm against the lag. Returns the paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = directory / "summary.txt"
    summary.write_text(report.summary(title) + "\n", encoding="utf-8")
    layers = report.flow.num_layers
    curves = {}
    for l in range(layers):
        curves[f"layer {l}: ‖∂L_t/∂h_(t-d)‖ / lag 0"] = report.flow.relative_by_lag(l)
        if report.jacobian is not None:
            curves[f"layer {l}: ‖∂s_(T-1)/∂s_(T-1-d)‖"] = report.jacobian[l]
    paths = [summary, plot_curves(curves, directory / "gradient_by_lag.png", "relative norm",
                                  title or "gradient flow by lag")]
    for l in range(layers):
        name = "gradient_heatmap.png" if layers == 1 else f"gradient_heatmap_layer{l}.png"
        paths.append(plot_heatmap(report.flow, directory / name, l, f"{title} layer {l}".strip()))
    return paths
