"""The one place where a file that cannot be read becomes a ``ValueError`` naming the file.

Every loader of ``rnnkit.interop`` and of the Keras front reads inside :func:`reading`. Inside it,
rnnkit's readers raise :class:`Malformed` with what is wrong ("/layers/lstm/vars/0 holds strings");
anything h5py, safetensors, zipfile, json or onnxruntime raise about the bytes is caught there too.
Both leave as one :class:`FileFormatError` (a ``ValueError``) whose message starts with the argument
name and the path, as the rest of rnnkit's messages do::

    filepath: model.weights.h5: not a readable Keras .weights.h5 file (OSError: ... file signature not found)
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator


class FileFormatError(ValueError):
    """A file that is not what its loader reads; the message names the argument, the file and the fault."""


class Malformed(ValueError):
    """What is wrong inside a file, raised by rnnkit's readers; :func:`reading` adds which file it is."""


class MissingDependency(ValueError):
    """A reader's package (h5py, safetensors, onnxruntime) is not installed: not the file's fault."""


@contextlib.contextmanager
def reading(path: Any, what: str, argument: str = "filepath") -> Iterator[None]:
    """Runs the body as the reading of ``path``; any failure leaves as :class:`FileFormatError`.

    Arguments:
        path: the file (or ``"archive.keras (model.weights.h5)"`` for a member of an archive).
        what: what the file should be, for the message (``"Keras .weights.h5 file"``).
        argument: the name of the caller's argument that gave the file.
    Raises:
        FileFormatError: a :class:`Malformed` fault (its message), or any other exception of the
            body (its type and message, chained). A ``FileFormatError`` of a nested reading and a
            :class:`MissingDependency` pass as they are.
    """
    try:
        yield
    except (FileFormatError, MissingDependency):
        raise
    except Malformed as err:
        raise FileFormatError(f"{argument}: {_shown(path)}: {err}") from None
    except Exception as err:
        raise FileFormatError(f"{argument}: {_shown(path)}: not a readable {what} "
                              f"({type(err).__name__}: {err})") from err


def _shown(path: Any) -> str:
    return str(path) if isinstance(path, (str, Path)) else type(path).__name__
