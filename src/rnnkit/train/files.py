"""Durable file writes for run directories, with errors that name the path.

Every write of the training engine goes through :func:`writing`, so a full disk or a read-only
directory ends training with one ``OSError`` whose message names the file (same errno and
subclass as the original: ``OSError(errno.ENOSPC, ...)``, ``PermissionError``, ...).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def writing(path: Path, what: str = "run_dir") -> Iterator[None]:
    """Re-raises an ``OSError`` of the block as ``OSError(errno, "WHAT: could not write PATH: reason")``."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise OSError(err.errno, f"{what}: could not write {path}: {reason}") from err


def write_durably(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` and fsyncs the file (not its directory)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def replace_atomically(path: Path, data: bytes) -> None:
    """Writes ``data`` next to ``path`` and renames it over ``path``: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write_durably(tmp, data)
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    """Makes a directory's entries durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
