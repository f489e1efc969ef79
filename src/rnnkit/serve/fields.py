"""Reading a request: the body as a JSON object of UTF-8 text within the size limit, and its fields checked.

Every refusal is a :class:`LabError` (or, for a field, a ``ValueError``) whose message starts with the
name of what was wrong (``body: ...``, ``temperature: ...``); the app answers it as ``{"error": message}``.
"""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

MISSING = object()


class LabError(Exception):
    """A refused request: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def read_body(request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object; LabError 413 past ``max_bytes``, 400 for bytes that are not UTF-8,
    text that is not JSON or JSON that is not an object."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise LabError(413, f"body: {int(declared):,} bytes; the lab takes at most {max_bytes:,}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            raise LabError(413, f"body: more than {max_bytes:,} bytes; the lab takes at most {max_bytes:,}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        raise LabError(400, f"body: not UTF-8 (byte 0x{data[err.start]:02x} at position {err.start})") from None
    try:
        body = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as err:
        raise LabError(400, f"body: not JSON ({err})") from None
    if not isinstance(body, dict):
        raise LabError(400, f"body: expected a JSON object, got {type(body).__name__}")
    return body


def text(body: dict, name: str, limit: int, default: Any = MISSING) -> str:
    """The string field ``name`` of at most ``limit`` characters, valid Unicode (no lone surrogates)."""
    value = body.get(name, default)
    if value is MISSING:
        raise ValueError(f"{name}: missing")
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{name}: {len(value):,} characters; the lab takes at most {limit:,}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{name}: not valid Unicode (a lone surrogate at position {err.start})") from None
    return value


def number(body: dict, name: str, low: float, high: float, default: Any = MISSING, *, integer: bool = False,
           low_open: bool = False) -> Any:
    """The number field ``name`` in ``[low, high]`` (``(low, high]`` with ``low_open``); an integer with
    ``integer``; ``default`` when absent or null (a default of None makes the field optional)."""
    value = body.get(name)
    if value is None:
        if default is MISSING:
            raise ValueError(f"{name}: missing")
        return default
    kind = "an integer" if integer else "a number"
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(f"{name}: expected {kind} in {interval}, got {value!r}")
    if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
        raise ValueError(f"{name}: expected {kind} in {interval}, got {value!r}")
    return value


def choice(body: dict, name: str, options: Sequence[str], default: Any = MISSING) -> str:
    """The field ``name``, one of ``options``."""
    value = body.get(name, default)
    if value is MISSING:
        raise ValueError(f"{name}: missing")
    if value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, options))}, got {value!r}")
    return value
