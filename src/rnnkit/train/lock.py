"""An exclusive, non-blocking lock on a file that names its owner (pid, host, start time).

The lock is ``flock`` (POSIX; ``msvcrt.locking`` on Windows) on an open lock file, so the
operating system releases it when the owner exits or is killed. A lock still held although its
owner is dead (a forked child inherited the file descriptor) is stale: the owner's pid is on this
host and no such process exists; the lock file is then replaced and taken over.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:                    # Windows
    fcntl = None
    import msvcrt


@dataclass(frozen=True)
class Owner:
    """Who holds a lock (``pid`` None when the lock file could not be read)."""

    pid: int | None
    host: str | None
    started: str | None

    def __str__(self) -> str:
        pid = "unknown" if self.pid is None else self.pid
        since = f" (since {self.started})" if self.started else ""
        return f"process {pid} on {self.host or 'an unknown host'}{since}"


class Locked(Exception):
    """The lock is held by a live process (or one that cannot be checked); ``owner`` says which."""

    def __init__(self, owner: Owner):
        super().__init__(str(owner))
        self.owner = owner


def acquire(path: Path) -> int:
    """Takes the lock on ``path`` (created if missing) and writes this process into it.

    Returns:
        The open file descriptor; :func:`release` it.
    Raises:
        Locked: another live process holds it.
        OSError: the lock file cannot be created or written.
    """
    for attempt in range(2):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if _try_lock(fd):
            if _same_file(fd, path):
                _write_owner(fd)
                return fd
            os.close(fd)               # replaced while we locked it: lock the new file
            continue
        owner = _read_owner(fd)
        os.close(fd)
        if attempt == 0 and _dead(owner):
            _unlink_if_same(path, owner)
            continue
        raise Locked(owner)
    raise Locked(_read_owner_at(path))


def release(fd: int) -> None:
    """Releases a lock taken by :func:`acquire` and closes its descriptor."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    data = json.dumps(owner).encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


def _read_owner(fd: int) -> Owner:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, os.fstat(fd).st_size))
        pid = data.get("pid")
        return Owner(pid if isinstance(pid, int) else None, data.get("host"), data.get("started"))
    except (OSError, ValueError, AttributeError):
        return Owner(None, None, None)


def _read_owner_at(path: Path) -> Owner:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return Owner(None, None, None)
    try:
        return _read_owner(fd)
    finally:
        os.close(fd)


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (always True on Windows, where ``os.kill(pid, 0)``
    would send CTRL_C)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead(owner: Owner) -> bool:
    """Whether ``owner`` is a process of this host that no longer exists."""
    return owner.pid is not None and owner.host == socket.gethostname() and not process_exists(owner.pid)


def _unlink_if_same(path: Path, owner: Owner) -> None:
    """Removes a stale lock file, unless another process has replaced it since it was read."""
    if _read_owner_at(path) == owner:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
