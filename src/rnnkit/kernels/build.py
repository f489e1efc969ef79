"""Builds the C++ step loops ahead of time: ``python -m rnnkit.kernels.build`` (exit status 0 when
they load). The background build that a process starts on first use (:mod:`.native`) runs this too,
at low priority; run by hand, it also retries a build that failed before."""
from __future__ import annotations

import logging
import os
import sys

from . import native


def main() -> int:
    """Builds (or finds) the loops, clears the background-build marker, records a failure."""
    try:
        os.nice(10)
    except OSError:
        pass
    directory = native.build_directory()
    try:
        module = native.load()
    finally:
        if directory is not None:
            (directory / native.MARKER).unlink(missing_ok=True)
    if directory is not None:
        if module is None:
            (directory / native.FAILED).write_text(f"see {native.LOG}\n")
        else:
            (directory / native.FAILED).unlink(missing_ok=True)
    print("built" if module is not None else "not built: the torch loops run (see the messages above)")
    return 0 if module is not None else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
