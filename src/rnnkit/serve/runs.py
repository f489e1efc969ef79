"""The runs the lab shows: each named run directory checked, its view found, its model loaded once."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .views import View, shown_tasks, view_for


@dataclass
class LabRun:
    """One run directory in the lab.

    Attributes:
        id: its name in the lab's addresses (the directory's name, made unique).
        path: the run directory.  task: its checkpoints' task.  view: the :class:`View` that shows it.
        model: what ``view.load`` returned (loaded once).  lock: held around every call into the model.
    """

    id: str
    path: Path
    task: str
    view: View
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        return {"id": self.id, "path": str(self.path), "task": self.task, "view": self.view.name,
                "title": self.view.title, "about": self.view.describe(self.model)}


def run_task(path: Path) -> str:
    """The task of a run directory or checkpoint directory (:func:`rnnkit.train.restore.recorded_task`);
    ValueError when it is not a run."""
    from ..train.checkpoint import CHECKPOINTS
    from ..train.restore import recorded_task

    if not path.is_dir():
        raise ValueError(f"RUN_DIR: {path} is not a directory (expected a run directory of `rnnkit demo`, "
                         "`rnnkit train ...` or `rnnkit memory --run-dir`)")
    task = recorded_task(path)
    if task is None:
        raise ValueError(f"RUN_DIR: {path} is not a run: no readable {CHECKPOINTS}/ckpt-NNNNNN/state.json naming a "
                         "task (make one with `rnnkit demo`, `rnnkit train TASK` or `rnnkit memory --run-dir`)")
    return task


def open_runs(paths: Sequence[str], device) -> list[LabRun]:
    """Checks every run directory first (a clear error names the first that is not a run the lab shows),
    then loads each model once."""
    found = []
    for given in paths:
        path = Path(given)
        task = run_task(path)
        view = view_for(task)
        if view is None:
            raise ValueError(f"RUN_DIR: {path} holds a {task!r} run; the lab shows {', '.join(shown_tasks())} runs")
        found.append((path, task, view))
    runs, taken = [], set()
    for path, task, view in found:
        name = re.sub(r"[^\w.-]", "-", path.resolve().name, flags=re.ASCII) or "run"
        unique = next(candidate for candidate in (name, *(f"{name}-{n}" for n in range(2, len(paths) + 2)))
                      if candidate not in taken)
        taken.add(unique)
        runs.append(LabRun(unique, path, task, view, view.load(path, device)))
    return runs
