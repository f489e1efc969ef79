"""Diagnostics: gradient checks against the NumPy reference, gradient flow through time.

``GradientFlowMonitor`` and ``FlowRecord`` (a Trainer callback) load on first use, so importing
this package does not import the training engine and its optional dependencies.
"""
from .flow import GradientFlow, gradient_flow
from .gradcheck import VARIANTS, check_against_reference, check_textbook_lm
from .gradcheck_structured import STRUCTURED_CELLS, check_ggnn_against_reference, check_tree_against_reference
from .jacobian import Spectrum, jacobian_norms, recurrent_spectra
from .plots import plot_curves, plot_heatmap
from .report import FlowReport, diagnose, write_report
from .spikes import GradientEvent, SpikeDetector

_LAZY = {"FlowRecord", "GradientFlowMonitor"}

__all__ = [
    "VARIANTS", "FlowRecord", "FlowReport", "GradientEvent", "GradientFlow", "GradientFlowMonitor",
    "STRUCTURED_CELLS", "SpikeDetector", "Spectrum", "check_against_reference", "check_ggnn_against_reference",
    "check_textbook_lm", "check_tree_against_reference", "diagnose",
    "gradient_flow", "jacobian_norms", "plot_curves", "plot_heatmap", "recurrent_spectra", "write_report",
]


def __getattr__(name: str):
    if name in _LAZY:
        from . import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
