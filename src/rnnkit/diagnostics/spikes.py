"""Exploding-gradient detection during training: norm spikes against a running median, NaN/Inf.

At optimizer step s with total gradient norm ``g_s`` and loss ``L_s``::

    non-finite   g_s or L_s is NaN or ±Inf
    spike        g_s > factor * median(g_{s-window} .. g_{s-1})    (once `warmup` norms are in)

Spikes enter the window like any other norm (the median shrugs them off); non-finite norms do not.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class GradientEvent:
    """One detected event.

    Attributes:
        step: the optimizer step.  kind: ``"spike"`` or ``"non-finite"``.
        grad_norm: the total gradient norm.  median: the running median it is compared with (NaN before warmup).
        loss: the batch loss, if known.
    """

    step: int
    kind: str
    grad_norm: float
    median: float
    loss: float | None = None

    def describe(self) -> str:
        loss = "" if self.loss is None else f", loss {self.loss:.4g}"
        if self.kind == "non-finite":
            return f"step {self.step}: non-finite gradient (norm {self.grad_norm}{loss})"
        return (f"step {self.step}: gradient norm {self.grad_norm:.3g} = {self.grad_norm / self.median:.1f}x "
                f"the running median {self.median:.3g}{loss}")


class SpikeDetector:
    """Watches the gradient norm step by step (module docstring).

    Arguments:
        factor: a norm above ``factor`` times the running median is a spike.
        window: how many recent finite norms the median is taken over.
        warmup: norms to collect before spikes are reported.
    """

    def __init__(self, factor: float = 10.0, window: int = 50, warmup: int = 10):
        if not factor > 1.0:
            raise ValueError(f"factor: expected a number > 1, got {factor!r}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window: expected a positive integer, got {window!r}")
        if not isinstance(warmup, int) or not 1 <= warmup <= window:
            raise ValueError(f"warmup: expected an integer in [1, window={window}], got {warmup!r}")
        self.factor, self.warmup = float(factor), warmup
        self.recent: deque[float] = deque(maxlen=window)
        self.events: list[GradientEvent] = []
        self.steps = 0

    def update(self, step: int, grad_norm: float, loss: float | None = None) -> GradientEvent | None:
        """Records one step; returns the event it raises, if any."""
        self.steps += 1
        grad_norm = float(grad_norm)
        median = statistics.median(self.recent) if self.recent else float("nan")
        event = None
        if not math.isfinite(grad_norm) or (loss is not None and not math.isfinite(loss)):
            event = GradientEvent(step, "non-finite", grad_norm, median, loss)
        else:
            if len(self.recent) >= self.warmup and grad_norm > self.factor * median:
                event = GradientEvent(step, "spike", grad_norm, median, loss)
            self.recent.append(grad_norm)
        if event is not None:
            self.events.append(event)
        return event

    def report(self, limit: int = 10) -> str:
        """A few lines: how many spikes and non-finite steps, the first ones, and what to do."""
        spikes = [e for e in self.events if e.kind == "spike"]
        broken = [e for e in self.events if e.kind == "non-finite"]
        if not self.events:
            return (f"gradients: no spikes above {self.factor:g}x the running median and no NaN/Inf "
                    f"in {self.steps} steps")
        lines = [f"gradients: {len(spikes)} spikes above {self.factor:g}x the running median and "
                 f"{len(broken)} non-finite steps in {self.steps} steps"]
        if broken:
            lines.append(f"  first non-finite gradient at step {broken[0].step}: training has diverged from there")
        if spikes:
            worst = max(spikes, key=lambda e: e.grad_norm / e.median)
            lines.append(f"  largest spike: {worst.describe()}")
        lines += [f"  {event.describe()}" for event in self.events[:limit]]
        if len(self.events) > limit:
            lines.append(f"  ... and {len(self.events) - limit} more")
        lines.append("  exploding gradients: clip the gradient norm (TrainConfig(clip_norm=1.0)) "
                     "or lower the learning rate")
        return "\n".join(lines)
