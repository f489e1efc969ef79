"""Diagnostics: gradient checks against the NumPy reference, gradient flow through time."""
from .gradcheck import VARIANTS, check_against_reference, check_textbook_lm

__all__ = ["VARIANTS", "check_against_reference", "check_textbook_lm"]
