"""Compiled training: ``Trainer(torch.compile(model))`` or ``TrainConfig(compile=True)``.

``torch.compile(model)`` compiles the module's ``forward``, but the trainer calls ``model.loss``,
which the wrapper hands to the original module uncompiled. So the trainer unwraps a compiled model
(it trains, evaluates and checkpoints the original module, whose state_dict keys carry no
``_orig_mod.`` prefix) and compiles the module whose ``forward`` is ``model.loss`` instead, with the
settings of the user's ``torch.compile`` call (backend, mode, options).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Compiler = Callable[[nn.Module], nn.Module]


def split_compiled(model: nn.Module, compile_plain: bool = False) -> tuple[nn.Module, Compiler | None]:
    """``(module, compiler)``: the module to train and what compiles its loss (None: run eagerly).

    Arguments:
        model: a plain module, or what ``torch.compile(module, ...)`` returned.
        compile_plain: compile a plain module with ``torch.compile``'s defaults (``TrainConfig.compile``).
    """
    original = getattr(model, "_orig_mod", None)
    if not isinstance(original, nn.Module):
        return model, (torch.compile if compile_plain else None)
    settings = getattr(model, "dynamo_ctx", None)      # the user's torch.compile settings
    return original, settings if callable(settings) else torch.compile
