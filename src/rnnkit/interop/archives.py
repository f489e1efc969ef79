"""Zip archives (``.keras`` files) read with size caps: no member is inflated whole into memory.

A member is refused when its declared size is over the cap, and the bytes actually inflated are
counted while they stream, so a header that lies about the size cannot get past the cap either.
Weight members are streamed in chunks to a temporary file (the HDF5 / safetensors readers then
read lazily from it); small JSON members are read into memory under a smaller cap.

The caps are module constants, read at each call (raise them here for larger models)::

    rnnkit.interop.archives.MAX_MEMBER_BYTES = 8 * 2**30
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import BinaryIO

from .errors import Malformed

MAX_MEMBER_BYTES = 2 * 2 ** 30
"""Largest weights member (``model.weights.h5``, ``model.safetensors``) inflated to disk: 2 GiB."""
MAX_JSON_BYTES = 16 * 2 ** 20
"""Largest JSON member (``config.json``, ``metadata.json``) read into memory: 16 MiB."""
CHUNK_BYTES = 2 ** 20
"""Bytes inflated per step while a member streams."""


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip archive at ``path``, opened for reading.

    Raises:
        Malformed: not a zip archive.
    """
    if not zipfile.is_zipfile(path):
        raise Malformed("not a zip archive")
    return zipfile.ZipFile(path)


def member_info(archive: zipfile.ZipFile, name: str, limit: int) -> zipfile.ZipInfo:
    """The entry of member ``name``, checked against the cap before anything is inflated.

    Raises:
        Malformed: no such member, or a declared size over ``limit`` bytes.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Malformed(f"holds no {name} (it holds {sorted(archive.namelist())[:20]})") from None
    if info.file_size > limit:
        raise Malformed(f"{name} declares {info.file_size:,} bytes, over the limit of {limit:,} "
                        f"(rnnkit.interop.archives)")
    return info


def _copy(archive: zipfile.ZipFile, name: str, sink: BinaryIO, limit: int) -> None:
    """Streams member ``name`` into ``sink`` in chunks, never past its declared size nor ``limit``."""
    info = member_info(archive, name, limit)
    written = 0
    with archive.open(info) as source:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > min(info.file_size, limit):
                raise Malformed(f"{name} inflates past its declared {info.file_size:,} bytes "
                                f"(limit {limit:,})")
            sink.write(chunk)
    if written != info.file_size:
        raise Malformed(f"{name} inflates to {written:,} bytes, its header declares {info.file_size:,}")


def read_json_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """The bytes of a small member (at most :data:`MAX_JSON_BYTES`)."""
    sink = io.BytesIO()
    _copy(archive, name, sink, MAX_JSON_BYTES)
    return sink.getvalue()


def extract_member(archive: zipfile.ZipFile, name: str, directory: Path) -> Path:
    """Streams member ``name`` (at most :data:`MAX_MEMBER_BYTES`) to a file in ``directory``; its path."""
    target = Path(directory) / Path(name).name
    with open(target, "wb") as sink:
        _copy(archive, name, sink, MAX_MEMBER_BYTES)
    return target
