"""Building blocks over sequences: losses, attention, CRF, decoding."""
from .dropout import EmbeddingDropout, LockedDropout
from .losses import LossOutput

__all__ = ["EmbeddingDropout", "LockedDropout", "LossOutput"]
