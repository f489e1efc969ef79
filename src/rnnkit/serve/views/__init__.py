"""The lab's views: one per kind of run, and the one small interface a new task plugs in through.

A view is a :class:`View`: which runs it shows (their checkpoints' ``metadata["task"]``), how to load
one (once, when the lab starts), what the page needs to know about it, and what the page may ask of
it. The page side is one script, ``static/views/NAME.js``, that registers ``Lab.views.NAME`` with a
``mount(root, run, api)`` function. A view only parses a request and calls the model's own code in
``rnnkit.tasks`` / ``rnnkit.diagnostics``; the app runs every call under the run's lock, so a view
never sees two requests at once on the same run.

To add a task (captioning, speech, handwriting, ...): write ``views/TASK.py`` with a ``VIEW = View(...)``,
add it to :data:`VIEWS`, and add ``static/views/TASK.js`` (docs/lab.md walks through it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..limits import Limits

Action = Callable[[Any, dict, Limits], dict]
Stream = Callable[[Any, dict, Limits], Iterator[dict]]


@dataclass(frozen=True)
class View:
    """One kind of run in the lab.

    Attributes:
        name: the view's name; the page draws it with ``static/views/{name}.js``.
        title: what the page calls such a run ("language model").
        tasks: the checkpoint ``metadata["task"]`` values of the runs it shows.
        load: ``load(run_dir: Path, device) -> model``: the run's model and what goes with it, loaded once;
            raises ``ValueError`` with a message that names the run directory.
        describe: ``describe(model) -> dict``: what the page needs to set itself up (JSON-ready).
        actions: ``{name: action(model, body, limits) -> dict}``, answered as JSON to
            ``POST /api/runs/RUN/name``; a ``ValueError`` becomes a 400 answer with its message.
        streams: ``{name: stream(model, body, limits) -> iterator of dicts}``, answered as server-sent
            events; ``stream`` checks the body before it returns the iterator (a ValueError then is a 400).
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    load: Callable[[Path, Any], Any]
    describe: Callable[[Any], dict]
    actions: Mapping[str, Action] = field(default_factory=dict)
    streams: Mapping[str, Stream] = field(default_factory=dict)


def significant(values) -> list:
    """A tensor as (nested) lists of floats rounded to 4 significant digits, None where not finite
    (small, valid JSON for the page)."""
    if values.dim() > 1:
        return [significant(row) for row in values]
    return [float(f"{v:.3e}") if math.isfinite(v) else None for v in values.tolist()]


def _registry() -> tuple[View, ...]:
    from . import classifier, lm, memory, tagger, translation

    return lm.VIEW, translation.VIEW, tagger.VIEW, classifier.VIEW, memory.VIEW


VIEWS: tuple[View, ...] = _registry()


def view_for(task: str) -> View | None:
    """The view that shows runs of ``task``, or None."""
    return next((view for view in VIEWS if task in view.tasks), None)


def shown_tasks() -> list[str]:
    """Every task some view shows."""
    return [task for view in VIEWS for task in view.tasks]
