"""Building blocks over sequences: losses, attention, CRF, decoding."""
from .losses import LossOutput

__all__ = ["LossOutput"]
