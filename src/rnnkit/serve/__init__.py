"""The local web lab, ``rnnkit serve``: an ASGI app (Starlette) and its static page.

The lab holds no model logic: each kind of run has a view (:mod:`rnnkit.serve.views`) that parses a
request and calls the model's own code in :mod:`rnnkit.tasks` and :mod:`rnnkit.diagnostics`.
Needs the ``lab`` extra: ``pip install 'rnnkit[lab]'``.
"""
from .app import create_app
from .limits import Limits
from .runs import LabRun, open_runs
from .views import VIEWS, View

__all__ = ["VIEWS", "LabRun", "Limits", "View", "create_app", "open_runs"]
