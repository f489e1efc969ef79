"""Run directories: one owner at a time, and a record of what rnnkit wrote there.

Layout of the bookkeeping files::

    RUN_DIR/.rnnkit-run.json   the marker: {"format": "rnnkit-run/1", "entries": ["checkpoints", "log.csv", ...]},
                               the top-level names rnnkit created (``RunDir.record``)
    RUN_DIR/.rnnkit-run.lock   held (flock) by the owning process for the whole run; holds its
                               {"pid", "host", "started"} (see :mod:`rnnkit.train.lock`)

A fresh run refuses a directory that holds anything but these two files, unless ``overwrite``:
then it deletes the recorded entries only. Inside ``checkpoints/`` only rnnkit's own checkpoints
(``ckpt-NNNNNN`` whose ``state.json`` has rnnkit's format, and its temporary directories) go; any
other file survives, and a directory without the marker is never emptied.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from . import lock
from .checkpoint import CHECKPOINTS, is_checkpoint
from .files import replace_atomically, writing

MARKER = ".rnnkit-run.json"
LOCK = ".rnnkit-run.lock"
FORMAT = "rnnkit-run/1"


class RunDirError(ValueError):
    """A run directory that cannot be used: locked by another process, or holding another run."""


class RunDir:
    """A run directory owned by this process until :meth:`close` (also a context manager).

    Open it with :meth:`open`. Opening a directory this process already holds returns the same
    object (closed as often as it was opened), so a caller can open it and hand the path on.

    Attributes:
        path: the directory.
    """

    _held: dict[str, "RunDir"] = {}

    def __init__(self, path: Path, fd: int):
        self.path, self._fd, self._depth = path, fd, 1

    @classmethod
    def open(cls, path: str | Path, *, resume: bool = False, overwrite: bool = False) -> "RunDir":
        """Creates (if needed) and locks ``path``.

        Arguments:
            path: the run directory.
            resume: the run continues there: whatever is there stays.
            overwrite: a fresh run replaces what rnnkit recorded there (not with ``resume``).
        Returns:
            The open :class:`RunDir`.
        Raises:
            RunDirError: another process holds the directory (the message names its pid); or a fresh
                run (neither flag) finds files there; or ``overwrite`` finds files but no marker.
            OSError: the directory or its lock file cannot be created (the message names the path).
        """
        if resume and overwrite:
            raise ValueError("overwrite: a fresh run replaces the directory, resume continues it; pass one of them")
        path = Path(path)
        with writing(path):
            if path.exists() and not path.is_dir():
                raise RunDirError(f"run_dir: {path} exists and is not a directory")
            path.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(path)
        held = cls._held.get(key)
        if held is not None:
            held._depth += 1
            return held
        with writing(path / LOCK):
            try:
                fd = lock.acquire(path / LOCK)
            except lock.Locked as err:
                raise RunDirError(f"run_dir: {path} is in use by {err.owner}; wait for it to finish, "
                                  "or choose another directory") from None
        run = cls(path, fd)
        try:
            if not resume:
                run._start_fresh(overwrite)
            run._write_marker(run.entries)
        except BaseException:
            lock.release(fd)
            raise
        cls._held[key] = run
        return run

    @property
    def entries(self) -> tuple[str, ...]:
        """The top-level names rnnkit recorded in this directory."""
        marker = _read_marker(self.path)
        return tuple(marker) if marker is not None else ()

    def record(self, *names: str) -> None:
        """Records top-level names rnnkit writes here (files or directories), before writing them, so
        that ``overwrite`` may delete them later.

        Arguments:
            names: single path components (``"checkpoints"``, ``"log.csv"``, ...).
        """
        for name in names:
            if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name \
                    or name in (MARKER, LOCK) or "\\" in name:
                raise ValueError(f"names: expected names of entries directly in the run directory, got {name!r}")
        current = self.entries
        self._write_marker(current + tuple(n for n in dict.fromkeys(names) if n not in current))

    def remove(self, *names: str) -> None:
        """Deletes recorded entries (all of them when no names are given); unrecorded names are left alone.

        In ``checkpoints/`` only rnnkit's checkpoints and temporary directories are deleted.
        """
        recorded = self.entries
        chosen = [n for n in (names or recorded) if n in recorded]
        for name in chosen:
            target = self.path / name
            with writing(target):
                if name == CHECKPOINTS and target.is_dir() and not target.is_symlink():
                    _remove_checkpoints(target)
                elif target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
        self._write_marker(tuple(n for n in recorded if n not in chosen or (self.path / n).exists()))

    def close(self) -> None:
        """Releases the directory (after as many calls as :meth:`open` returned this object)."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            RunDir._held.pop(os.path.realpath(self.path), None)
            lock.release(self._fd)

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}{'' if self._depth else ', closed'})"

    def _start_fresh(self, overwrite: bool) -> None:
        """Refuses a directory with content, or (``overwrite``) deletes what rnnkit recorded there."""
        found = _contents(self.path)
        if not found:
            return
        if not overwrite:
            raise RunDirError(f"run_dir: {self.path} already holds {_names(found)}; pass --overwrite "
                              "(overwrite=True) to replace what rnnkit wrote there, or --resume (resume=True) "
                              "to continue that run")
        if _read_marker(self.path) is None:
            raise RunDirError(f"run_dir: {self.path} holds {_names(found)} but no {MARKER}, so rnnkit did not "
                              "create them and will not delete them; choose a new or empty directory")
        self.remove()

    def _write_marker(self, entries: tuple[str, ...]) -> None:
        path = self.path / MARKER
        with writing(path):
            replace_atomically(path, json.dumps({"format": FORMAT, "entries": list(entries)}).encode("utf-8"))


@contextlib.contextmanager
def hold_for_fit(target: str | Path | RunDir | None, replicas: Any, *, resume: bool, overwrite: bool,
                 replace: bool, entries: tuple[str, ...]) -> Iterator[RunDir | None]:
    """Holds a run directory while a trainer fits: rank 0 opens it, and every replica fails if that failed.

    Arguments:
        target: a path (opened here and closed at the end), an open :class:`RunDir` (used as it is), or None.
        replicas: ``is_main`` and ``any(flag)`` (:class:`rnnkit.train.distributed.Replicas`).
        resume / overwrite: as for :meth:`RunDir.open`.
        replace: delete ``entries`` first (a trainer's second fresh fit replaces its own first run).
        entries: the names the fit writes, recorded before it writes them.
    Yields:
        The RunDir on rank 0, else None.
    """
    error, held = None, None
    if target is not None and replicas.is_main:
        try:
            held = target if isinstance(target, RunDir) else RunDir.open(target, resume=resume, overwrite=overwrite)
            if replace:
                held.remove(*entries)
            held.record(*entries)
        except (ValueError, OSError) as err:
            error = err
    try:
        if target is not None and replicas.any(error is not None):
            raise error or RunDirError(f"run_dir: rank 0 could not open {target}")
        yield held
    finally:
        if held is not None and held is not target:
            held.close()


def _read_marker(path: Path) -> list[str] | None:
    """The recorded entries, or None without a (readable) marker."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != FORMAT or not isinstance(marker.get("entries"), list):
        return None
    return [name for name in marker["entries"] if isinstance(name, str) and name and Path(name).name == name]


def _contents(path: Path) -> list[str]:
    """The names in ``path`` other than the marker and the lock (and their temporary files)."""
    return sorted(name for name in os.listdir(path) if not name.startswith((MARKER, LOCK, f".{MARKER}")))


def _names(found: list[str], shown: int = 5) -> str:
    listed = ", ".join(found[:shown])
    return listed + (f" and {len(found) - shown} more" if len(found) > shown else "")


def _remove_checkpoints(root: Path) -> None:
    """Deletes rnnkit's checkpoints and temporary directories from ``root``; removes ``root`` if then empty."""
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink() and (
                entry.name.startswith((".tmp-", ".trash-")) or is_checkpoint(entry)):
            shutil.rmtree(entry)
    if not any(root.iterdir()):
        root.rmdir()
