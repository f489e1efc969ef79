"""``Meter``: running means of a loss and its metrics, weighted by the units each batch averages over.

A batch whose loss is the mean over ``count`` units contributes ``loss * count`` to the sum, so
the meter's mean equals the loss over all units seen, whatever the batch sizes.
"""
from __future__ import annotations

from typing import Callable


class Meter:
    """Weighted sums of ``loss`` and ``metrics`` over ``count`` units."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, loss: float, count: int, metrics: dict[str, float]) -> None:
        """Adds one batch: its mean ``loss`` and ``metrics`` over ``count`` units."""
        self.count += count
        for name, value in (("loss", loss), *metrics.items()):
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * count

    def summary(self, all_reduce: Callable[[list[float]], list[float]] | None = None) -> tuple[dict[str, float], float]:
        """``({name: sum / count}, count)``; ``all_reduce`` (a sum across replicas) pools every replica's units.

        Every replica must hold the same names (the task model reports the same metrics everywhere).
        """
        names = sorted(self.sums)
        totals = [self.sums[name] for name in names] + [float(self.count)]
        if all_reduce is not None:
            totals = all_reduce(totals)
        count = totals[-1]
        if count == 0:
            return {}, 0.0
        return {name: total / count for name, total in zip(names, totals)}, count

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.count = dict(state["sums"]), int(state["count"])
