r"""NT-ASGD's trigger and iterate average (Merity et al. 2017, "Regularizing and Optimizing LSTM Language Models").

Plain SGD runs until the validation loss stops improving non-monotonically. With ``v_0 .. v_k`` the
losses of the validations so far and n the patience, validation k triggers averaging when::

    k > n   and   v_k > min(v_0 .. v_{k-n-1})        (worse than the best of the checks more than n ago)

If it triggers after optimizer step s, every later step s + m updates the running average of the
iterates since the trigger::

    a_m = a_{m-1} + (w_{s+m} - a_{m-1}) / m  =  (w_{s+1} + .. + w_{s+m}) / m

SGD keeps updating ``w``; evaluation (and so the best model kept) uses ``a_m`` in its place
(:meth:`IterateAverage.swapped`). The trigger step, the losses seen, m and the average go into
every checkpoint, so a resumed run averages exactly as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch

PREFIX = "average."    # the average's tensors in a checkpoint: "average.{index of the parameter}"


def triggers(losses: Sequence[float], patience: int) -> bool:
    """Whether the last of ``losses`` (v_0 .. v_k) triggers averaging: ``k > n`` and ``v_k > min(v_0 .. v_{k-n-1})``."""
    k = len(losses) - 1
    return k > patience and losses[k] > min(losses[:k - patience])


class IterateAverage:
    """The trigger bookkeeping and the running average of NT-ASGD (see the module docstring).

    Arguments:
        params: the parameters SGD updates (the optimizer's, in its order).
        patience: n, validations whose losses the trigger ignores when taking the best.

    Attributes:
        losses: the validation losses seen before the trigger.
        start: the optimizer step after which averaging began (None: not triggered).
        count: m, the iterates averaged so far.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], patience: int):
        self.params, self.patience = list(params), patience
        self.losses: list[float] = []
        self.start: int | None = None
        self.count = 0
        self.average: list[torch.Tensor] = []

    def observe(self, val_loss: float, step: int) -> None:
        """Records a validation after ``step`` optimizer steps; triggers averaging when the rule says."""
        if self.start is not None:
            return
        self.losses.append(float(val_loss))
        if triggers(self.losses, self.patience):
            self.start = step
            self.average = [p.detach().clone() for p in self.params]   # replaced whole by the first update (m = 1)

    @torch.no_grad()
    def update(self) -> None:
        """After an optimizer step: ``a_m = a_{m-1} + (w - a_{m-1}) / m`` once triggered (a no-op before)."""
        if self.start is None:
            return
        self.count += 1
        for a, p in zip(self.average, self.params):
            a.lerp_(p, 1.0 / self.count)                                # weight 1 (m = 1) gives w exactly

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Within the block the parameters hold the average (unchanged before the first averaged step)."""
        if not self.count:
            yield
            return
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.average):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(self.params, saved):
                    p.copy_(w)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """``(tensors named "average.{i}", JSON entries)`` for a checkpoint."""
        tensors = {f"{PREFIX}{i}": a for i, a in enumerate(self.average)}
        return tensors, {"losses": self.losses, "start": self.start, "count": self.count}

    def load(self, tensors: dict[str, torch.Tensor], entries: dict) -> None:
        """Restores what :meth:`state` saved (the average onto each parameter's device and dtype)."""
        self.losses, self.start, self.count = [float(v) for v in entries["losses"]], entries["start"], entries["count"]
        if self.start is not None:
            names = [f"{PREFIX}{i}" for i in range(len(self.params))]
            if any(name not in tensors or tensors[name].shape != p.shape for name, p in zip(names, self.params)):
                raise ValueError(f"optimizer.safetensors: NT-ASGD's average {PREFIX}0 .. {PREFIX}{len(names) - 1} "
                                 "is missing or has other shapes than the parameters")
            self.average = [tensors[name].to(p.device, p.dtype) for name, p in zip(names, self.params)]
