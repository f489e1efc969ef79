"""Checkpoints in a run directory: safetensors + JSON, written atomically, loaded without unpickling.

Layout::

    RUN_DIR/checkpoints/ckpt-000007/
        model.safetensors       the model's state_dict
        optimizer.safetensors   the optimizer's tensors (moments, step counts)
        carry.safetensors       recurrent state carried between stream batches (when there is one)
        state.json              model class + config, metadata (e.g. the vocabulary), trainer state:
                                optimizer / schedule / scaler numbers, step, epoch, RNG states, history

Atomicity: a checkpoint is written into ``checkpoints/.tmp-...``, every file and the directory are
fsynced, and the directory is renamed to ``ckpt-NNNNNN`` (one ``rename``, atomic on POSIX), then the
parent is fsynced. A ``ckpt-*`` directory is therefore always complete; :func:`load_checkpoint`
takes the highest-numbered one. Older checkpoints are deleted (renamed away first) only after the
new one is in place, so a SIGKILL at any moment leaves the last good checkpoint loadable.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "rnnkit-checkpoint/1"
CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d{6,})$")


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        path: its directory.
        weights: the model's state_dict (CPU tensors); ``model.load_state_dict(weights)`` restores it.
        state: everything in ``state.json``.
    """

    path: Path
    weights: dict[str, torch.Tensor]
    state: dict

    @property
    def model_class(self) -> str | None:
        """``module.QualName`` of the saved model."""
        return self.state.get("model_class")

    @property
    def config(self) -> dict | None:
        """``dataclasses.asdict(model.config)``, or None if the model had no dataclass config."""
        return self.state.get("config")

    @property
    def metadata(self) -> dict:
        """What the task passed (vocabulary, corpus name, ...)."""
        return self.state.get("metadata", {})

    @property
    def step(self) -> int:
        return int(self.state.get("step", 0))

    @property
    def epoch(self) -> int:
        return int(self.state.get("epoch", 0))

    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        """The tensors of ``NAME.safetensors`` in this checkpoint (empty if there is no such file)."""
        path = self.path / f"{name}.safetensors"
        return load_file(str(path)) if path.exists() else {}


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict as contiguous CPU tensors; tied tensors are stored once per name."""
    tensors, storages = {}, set()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        shared = storage in storages or tensor.numel() != tensor.untyped_storage().nbytes() // tensor.element_size()
        tensors[name] = tensor.clone() if shared else tensor
        storages.add(storage)
    return tensors


def model_description(model: torch.nn.Module) -> dict[str, Any]:
    """``model_class`` and ``config`` (``dataclasses.asdict(model.config)`` when it is a dataclass)."""
    config = getattr(model, "config", None)
    cls = type(model)
    return {"model_class": f"{cls.__module__}.{cls.__qualname__}",
            "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None}


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, *, metadata: dict | None = None,
                    state: dict | None = None, tensors: dict[str, dict[str, torch.Tensor]] | None = None,
                    keep: int = 2) -> Path:
    """Writes a new checkpoint of ``model`` into ``run_dir/checkpoints`` atomically.

    Arguments:
        run_dir: the run directory (created if missing).
        model: its state_dict goes to ``model.safetensors``; its class and config to ``state.json``.
        metadata: JSON-serialisable task data (e.g. the vocabulary).
        state: more JSON-serialisable entries for ``state.json`` (the trainer's state).
        tensors: more tensor files: ``{"optimizer": {...}}`` is written as ``optimizer.safetensors``.
        keep: how many checkpoints to keep (older ones are deleted after the new one is in place).
    Returns:
        The new checkpoint's directory.
    """
    if not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep: expected a positive integer, got {keep!r}")
    if tensors and not all(isinstance(n, str) and n.isidentifier() and n != "model" for n in tensors):
        raise ValueError(f"tensors: expected file names (identifiers other than 'model'), got {sorted(tensors)}")
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    existing = _numbered(root)
    number = existing[-1][0] + 1 if existing else 1
    tmp = root / f".tmp-{number:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    contents = {"format": FORMAT, **model_description(model), "metadata": metadata or {}, **(state or {})}
    files = {"model": model_state(model), **(tensors or {})}
    final = root / f"ckpt-{number:06d}"
    try:
        for name, group in files.items():
            path = tmp / f"{name}.safetensors"
            save_file({k: v.detach().cpu().contiguous() for k, v in group.items()}, str(path))
            _fsync_file(path)
        _write_json(tmp / "state.json", contents)
        _fsync_dir(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(root)
    for _, old in existing[:max(0, len(existing) + 1 - keep)]:
        _remove(old)
    for stale in [*root.glob(".tmp-*"), *root.glob(".trash-*")]:
        if not _owner_alive(stale):
            shutil.rmtree(stale, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Loads the newest complete checkpoint of a run directory (or the checkpoint directory given).

    Only safetensors and JSON are read: nothing is unpickled.

    Raises:
        FileNotFoundError: no complete checkpoint there.
    """
    path = Path(path)
    if (path / "state.json").is_file() and (path / "model.safetensors").is_file():
        candidates = [path]
    else:
        candidates = [p for _, p in reversed(_numbered(path / CHECKPOINTS))]
    for candidate in candidates:
        try:
            state = json.loads((candidate / "state.json").read_text(encoding="utf-8"))
            weights = load_file(str(candidate / "model.safetensors"))
        except (OSError, ValueError):
            continue
        if state.get("format") == FORMAT:
            return Checkpoint(candidate, weights, state)
    raise FileNotFoundError(f"run_dir: no complete checkpoint in {path} (expected {CHECKPOINTS}/ckpt-NNNNNN/ "
                            "with model.safetensors and state.json)")


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds at least one complete checkpoint."""
    return bool(_numbered(Path(run_dir) / CHECKPOINTS))


def _numbered(root: Path) -> list[tuple[int, Path]]:
    """The ``ckpt-NNNNNN`` directories of ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def _write_json(path: Path, contents: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(contents, handle)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Makes a directory's entries durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Deletes a checkpoint directory: renamed to a hidden name first, so it never looks half-complete."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    try:
        os.rename(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _owner_alive(path: Path) -> bool:
    """Whether the process named by a ``.tmp-NNNNNN-PID`` / ``.trash-NAME-PID`` directory is alive.

    On Windows (where ``os.kill(pid, 0)`` would send CTRL_C) every owner counts as alive.
    """
    if os.name == "nt":
        return True
    try:
        os.kill(int(path.name.rsplit("-", 1)[1]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
