"""Running a task model for its outputs: eval mode and no gradients, the caller's mode restored after."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode (dropout off) and no gradients for the block; the model's previous mode comes back after
    it, so a training callback may decode with the model being trained."""
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(training)
