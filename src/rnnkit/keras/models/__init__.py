"""Keras-compatible models: ``Sequential``, functional ``Model(inputs, outputs)``, ``load_model``."""
from .functional import Functional
from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = ["Functional", "Model", "Sequential", "load_model"]
