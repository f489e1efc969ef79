"""PNG figures of the task evaluations (matplotlib's Agg canvas; no display, no global pyplot state)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plots need matplotlib; pip install 'rnnkit[train]'") from err
    return Figure(figsize=(width, height), layout="constrained")


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "confusion matrix") -> Path:
    """The confusion matrix (rows gold, columns predicted) as a heat map with the counts written in.

    Returns the path written.
    """
    counts = np.asarray(confusion)
    figure = _figure(3.0 + 0.7 * len(labels), 1.6 + 0.6 * len(labels))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):
        axes.text(j, i, str(n), ha="center", va="center", color="white" if n > threshold else "black")
    figure.savefig(path, dpi=90)
    return Path(path)


def plot_forecast(times: Sequence[float], truth: Sequence[float], forecasts: dict[str, Sequence[float]],
                  path: str | Path, title: str = "", history: tuple[Sequence[float], Sequence[float]] | None = None,
                  tick_labels: Sequence[str] | None = None) -> Path:
    """Forecasts against the truth.

    Arguments:
        times: x positions of the forecast steps.  truth: the true values there (empty: the future).
        forecasts: label -> values at ``times``.
        history: ``(x, values)`` of the known past to draw before the forecasts, or None.
        tick_labels: a label per position of ``range(0, max x + 1)`` (dates, years); a few are shown.
    Returns:
        The path written.
    """
    figure = _figure(8.0, 4.0)
    axes = figure.add_subplot()
    if history is not None:
        axes.plot(history[0], history[1], color="0.6", linewidth=1, label="history")
    if len(truth):
        axes.plot(times, truth, color="black", linewidth=1.5, label="truth")
    for label, values in forecasts.items():
        axes.plot(times, values, linewidth=1.2, label=label)
    if tick_labels is not None:
        positions = np.linspace(min(history[0]) if history is not None else min(times), max(times), 6).astype(int)
        positions = [p for p in positions if 0 <= p < len(tick_labels)]
        axes.set_xticks(positions, labels=[tick_labels[p] for p in positions])
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    figure.savefig(path, dpi=90)
    return Path(path)


def plot_alignment(spectrogram: np.ndarray, frame_seconds: float, labels: Sequence[str], label_seconds: float,
                   path: str | Path, title: str = "") -> Path:
    """A log-mel spectrogram ``(T, J)`` with a recogniser's per-frame best output under it: each run of
    one symbol marked at its frames, blanks left empty (the CTC alignment).

    Arguments:
        spectrogram: ``(T, J)`` log-mel frames.  frame_seconds: seconds between its frames.
        labels: the output per output frame ("" for blank).  label_seconds: seconds between output frames.
    Returns the path written.
    """
    frames, channels = spectrogram.shape
    figure = _figure(max(6.0, min(16.0, 2.0 + frames * frame_seconds * 4.0)), 4.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    top.imshow(spectrogram.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0.0, frames * frame_seconds, 0, channels))
    top.set_ylabel("mel channel")
    top.set_title(title)
    start = 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            if labels[start]:
                left, right = start * label_seconds, t * label_seconds
                bottom.axvspan(left, right, color="tab:blue", alpha=0.3)
                bottom.text((left + right) / 2, 0.5, labels[start], ha="center", va="center", fontsize=11)
            start = t
    bottom.set_yticks([])
    bottom.set_ylim(0, 1)
    bottom.set_xlim(0.0, max(frames * frame_seconds, len(labels) * label_seconds))
    bottom.set_xlabel("seconds (boxes: frames whose best output is that symbol; empty: blank)")
    figure.savefig(path, dpi=90)
    return Path(path)
