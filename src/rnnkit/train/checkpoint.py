"""Checkpoints in a run directory: safetensors + JSON, written atomically, verified before use.

Layout::

    RUN_DIR/checkpoints/ckpt-000007/
        model.safetensors       the model's state_dict
        optimizer.safetensors   the optimizer's tensors (moments, step counts)
        carry.safetensors       recurrent state carried between stream batches (when there is one)
        state.json              model class + config, metadata (e.g. the vocabulary), trainer state:
                                optimizer / schedule / scaler numbers, step, epoch, RNG states, history;
                                the size and SHA-256 of every tensor file, and its own digest

Atomicity: a checkpoint is written into ``checkpoints/.tmp-...``, every file and the directory are
fsynced, and the directory is renamed to ``ckpt-NNNNNN`` (one ``rename``, atomic on POSIX), then the
parent is fsynced. Older checkpoints are deleted (renamed away first) only after the new one is in
place, so a SIGKILL at any moment leaves the last good checkpoint loadable.

Verification: :func:`load_checkpoint` checks each candidate, newest first, before choosing it
(:mod:`rnnkit.train.integrity`: checksums, safetensors headers, finite values; then the caller's
``check``, e.g. shapes against the config), and falls back to the newest good one with a
:class:`CheckpointWarning` that names what was wrong. Nothing is unpickled.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save as save_tensors

from .files import fsync_dir, write_durably, writing
from .integrity import FORMAT, LEGACY_FORMAT, check_finite, file_entry, read_state, read_tensor_files, state_bytes
from .lock import process_exists

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d{6,})$")
_RESERVED = ("format", "model_class", "config", "metadata", "files", "digest")


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped because it is damaged or does not fit; an older one is used."""


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint.

    Attributes:
        path: its directory.
        weights: the model's state_dict (CPU tensors); ``model.load_state_dict(weights)`` restores it.
        state: everything in ``state.json``.
        files: every tensor file read, by name without ``.safetensors`` (``"model"``, ``"optimizer"``, ...).
        missing: tensor files that ``state.json`` lists but that are absent (only the model is required).
    """

    path: Path
    weights: dict[str, torch.Tensor]
    state: dict
    files: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

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
        return self.files.get(name, {})


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
    Raises:
        ValueError: bad arguments, state that is not JSON, or a tensor with NaN / infinite values
            (such a checkpoint would be refused when loaded).
        OSError: the checkpoint could not be written (the message names it); older ones are intact.
    """
    if not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep: expected a positive integer, got {keep!r}")
    if tensors and not all(isinstance(n, str) and n.isidentifier() and n != "model" for n in tensors):
        raise ValueError(f"tensors: expected file names (identifiers other than 'model'), got {sorted(tensors)}")
    if state and set(state) & set(_RESERVED):
        raise ValueError(f"state: {sorted(set(state) & set(_RESERVED))} are written by save_checkpoint itself")
    payloads = {}
    for name, group in {"model": model_state(model), **(tensors or {})}.items():
        group = {k: v.detach().cpu().contiguous() for k, v in group.items()}
        check_finite("model" if name == "model" else f"tensors[{name!r}]", group)
        payloads[f"{name}.safetensors"] = save_tensors(group)
    contents = {"format": FORMAT, **model_description(model), "metadata": metadata or {}, **(state or {}),
                "files": {name: file_entry(data) for name, data in payloads.items()}}
    state_json = state_bytes(contents)
    root = Path(run_dir) / CHECKPOINTS
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
        existing = _numbered(root)
    number = existing[-1][0] + 1 if existing else 1
    final = root / f"ckpt-{number:06d}"
    tmp = root / f".tmp-{number:06d}-{os.getpid()}"
    with writing(final, "checkpoint"):
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            for name, data in payloads.items():
                write_durably(tmp / name, data)
            write_durably(tmp / "state.json", state_json)
            fsync_dir(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(root)
    own = [path for _, path in existing if is_checkpoint(path)]        # another program's ckpt-N stays
    for old in own[:max(0, len(own) + 1 - keep)]:
        _remove(old)
    for stale in [*root.glob(".tmp-*"), *root.glob(".trash-*")]:
        if not _owner_alive(stale):
            shutil.rmtree(stale, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, check: Callable[[Checkpoint], None] | None = None) -> Checkpoint:
    """The newest good checkpoint of a run directory (or the checkpoint directory given).

    Each candidate, newest first, is verified before it is chosen: ``state.json`` and its digest,
    every tensor file's size and SHA-256, the safetensors headers, finite values, and then
    ``check``. A skipped candidate is reported by a :class:`CheckpointWarning` naming it and the fault.
    Only safetensors and JSON are read: nothing is unpickled.

    Arguments:
        path: a run directory, or one checkpoint directory (then the only candidate).
        check: ``check(checkpoint)`` raises ValueError for a candidate that does not fit the caller
            (e.g. shapes against the config); None: no more checks.
    Returns:
        The chosen :class:`Checkpoint`.
    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: no candidate passed; the message names each one and what was wrong.
    """
    path = Path(path)
    candidates = [path] if (path / "state.json").is_file() else [p for _, p in reversed(_numbered(path / CHECKPOINTS))]
    if not candidates:
        raise FileNotFoundError(f"run_dir: no complete checkpoint in {path} (expected {CHECKPOINTS}/ckpt-NNNNNN/ "
                                "with model.safetensors and state.json)")
    skipped: list[tuple[Path, str]] = []
    for candidate in candidates:
        try:
            checkpoint = _read(candidate)
            if check is not None:
                check(checkpoint)
        except ValueError as err:
            skipped.append((candidate, str(err)))
            continue
        for bad, reason in skipped:
            warnings.warn(f"checkpoint {bad} is unusable ({reason}); using the older {checkpoint.path}",
                          CheckpointWarning, stacklevel=2)
        return checkpoint
    by_reason: dict[str, list[str]] = {}
    for bad, reason in skipped:
        by_reason.setdefault(reason, []).append(bad.name)
    raise ValueError(f"run_dir: no usable checkpoint in {path}: "
                     + "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()))


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds at least one checkpoint directory (complete; not necessarily intact)."""
    return bool(_numbered(Path(run_dir) / CHECKPOINTS))


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a directory whose ``state.json`` has rnnkit's checkpoint format (not verified)."""
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(state, dict) and state.get("format") in (FORMAT, LEGACY_FORMAT)


def _read(directory: Path) -> Checkpoint:
    """One candidate, verified (ValueError names what is wrong)."""
    state = read_state(directory / "state.json")
    files, missing = read_tensor_files(directory, state)
    return Checkpoint(directory, files["model"], state, files, missing)


def _numbered(root: Path) -> list[tuple[int, Path]]:
    """The ``ckpt-NNNNNN`` directories of ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def _remove(path: Path) -> None:
    """Deletes a checkpoint directory: renamed to a hidden name first, so it never looks half-complete."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    try:
        os.rename(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _owner_alive(path: Path) -> bool:
    """Whether the process named by a ``.tmp-NNNNNN-PID`` / ``.trash-NAME-PID`` directory is alive."""
    pid = path.name.rsplit("-", 1)[-1]
    return pid.isdigit() and process_exists(int(pid))
