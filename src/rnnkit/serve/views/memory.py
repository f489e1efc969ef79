"""The memory view: a run of ``rnnkit memory --run-dir`` and how its gradient reaches back in time. The lag
curves ``‖∂L_t/∂h_(t-d)‖ / lag 0`` of the trained model beside a freshly initialised one of the same
configuration, and the ``‖∂L_t/∂h_k‖`` map (:func:`rnnkit.diagnostics.diagnose`, on the task's test data).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...data.synthetic import TASKS as MEMORY_TASKS
from ..limits import Limits
from . import View, significant

PROBE_SEQUENCES = 16
HEATMAP_CELLS = 160                   # the map is strided down to at most this many rows and columns


@dataclass
class MemoryRun:
    model: Any
    task: str
    lag: int | None
    step: int
    measured: dict | None = None


def load(path: Path, device) -> MemoryRun:
    from ...tasks.memory import MemoryModel, MemoryModelConfig
    from ...train.restore import restore_model

    model, checkpoint = restore_model(path, MemoryModel, MemoryModelConfig, device=device)
    return MemoryRun(model, checkpoint.metadata["task"], checkpoint.metadata.get("lag"), checkpoint.step)


def describe(run: MemoryRun) -> dict:
    config = run.model.config
    return {"task": run.task, "lag": run.lag, "cell": config.cell, "hidden_size": config.hidden_size,
            "layers": config.layers, "step": run.step}


def flow(run: MemoryRun, body: dict, limits: Limits) -> dict:
    """The lag curves of every layer, trained and untrained, their verdicts, and layer 0's map (measured once)."""
    if run.measured is None:
        run.measured = _measure(run)
    return run.measured


def _measure(run: MemoryRun) -> dict:
    import torch

    from ...data.synthetic import SequenceBatch, memory_task
    from ...diagnostics import diagnose
    from ...tasks.memory import MemoryModel
    from ...train.tree import to_device

    data = memory_task(run.task, run.lag, test_size=PROBE_SEQUENCES)
    device = next(run.model.parameters()).device
    probe = to_device(SequenceBatch(data.test.x[:PROBE_SEQUENCES], data.test.y[:PROBE_SEQUENCES]), device)
    torch.manual_seed(0)
    reports = {"trained": diagnose(run.model, probe, jacobian_rows=0),
               "untrained": diagnose(MemoryModel(run.model.config).to(device), probe, jacobian_rows=0)}
    trained = reports["trained"].flow
    stride = math.ceil(trained.length / HEATMAP_CELLS)
    return {"lags": trained.length,
            "curves": {name: [significant(report.flow.relative_by_lag(layer))
                              for layer in range(report.flow.num_layers)] for name, report in reports.items()},
            "verdicts": {name: report.verdict for name, report in reports.items()},
            "heatmap": {"stride": stride, "norms": significant(trained.norms[0, ::stride, ::stride])}}


VIEW = View(name="memory", title="memory task", tasks=MEMORY_TASKS, load=load, describe=describe,
            actions={"flow": flow})
