"""Checksums written with every checkpoint, and the checks a checkpoint passes before it is used.

``state.json`` lists every tensor file with its size and SHA-256 (``"files"``) and ends with
``"digest"``: the SHA-256 of the file's own bytes with the digest's 64 hex digits read as zeros.
So a damaged byte anywhere in a checkpoint is found before anything in it is used. Reading a
checkpoint (:func:`read_state`, :func:`read_tensor_files`) verifies the digest and the checksums,
parses every safetensors file and requires finite floating-point values; whatever fails is a
``ValueError`` that names the file and the fault. Checkpoints of the first format (no checksums)
are still read, with every check but the checksums.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors

FORMAT = "rnnkit-checkpoint/2"
LEGACY_FORMAT = "rnnkit-checkpoint/1"
MODEL_FILE = "model.safetensors"
_ZEROS = "0" * 64
_DIGEST = re.compile(rb', "digest": "([0-9a-f]{64})"\}\Z')
_FILE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.safetensors$")


def file_entry(data: bytes) -> dict:
    """The manifest entry of one file's bytes: ``{"bytes": n, "sha256": hex}``."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def state_bytes(contents: dict) -> bytes:
    """``contents`` as JSON with ``"digest"`` appended (see the module docstring).

    Raises:
        ValueError: ``contents`` is not JSON-serialisable.
    """
    try:
        text = json.dumps({**contents, "digest": _ZEROS})
    except (TypeError, ValueError) as err:
        raise ValueError(f"state: expected JSON-serialisable metadata and state, got {err}") from None
    raw = text.encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest().encode("ascii")
    return raw[:-66] + digest + raw[-2:]


def read_state(path: Path) -> dict:
    """The verified contents of a ``state.json``.

    Raises:
        ValueError: unreadable, damaged (digest), not JSON, or not a checkpoint of a known format.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"state.json: cannot be read ({err.strerror or err})") from None
    found = _DIGEST.search(raw)
    if found is not None:
        zeroed = raw[:found.start(1)] + _ZEROS.encode("ascii") + raw[found.end(1):]
        if hashlib.sha256(zeroed).hexdigest().encode("ascii") != found.group(1):
            raise ValueError("state.json: its bytes do not match its digest (damaged or edited)")
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("state.json: not valid JSON (damaged)") from None
    if not isinstance(state, dict):
        raise ValueError("state.json: expected a JSON object (damaged)")
    expected = FORMAT if found is not None else LEGACY_FORMAT
    if state.get("format") != expected or (found is None and "digest" in state):
        raise ValueError(f"state.json: expected format {FORMAT!r} with its digest, got {state.get('format')!r}")
    return state


def read_tensor_files(directory: Path, state: dict) -> tuple[dict[str, dict[str, torch.Tensor]], tuple[str, ...]]:
    """The tensor files of a checkpoint, verified.

    Arguments:
        directory: the checkpoint directory.
        state: its verified ``state.json`` (:func:`read_state`).
    Returns:
        ``(files, missing)``: ``{"model": {...}, "optimizer": {...}, ...}`` and the names (without
        ``.safetensors``) of listed files that are absent. Only ``model.safetensors`` is required.
    Raises:
        ValueError: a file is damaged (size, checksum, header, non-finite values) or the model is missing.
    """
    manifest = _manifest(directory, state)
    files, missing = {}, []
    for name, entry in manifest.items():
        try:
            data = (directory / name).read_bytes()
        except FileNotFoundError:
            if name == MODEL_FILE:
                raise ValueError(f"{MODEL_FILE}: missing") from None
            missing.append(name[: -len(".safetensors")])
            continue
        except OSError as err:
            raise ValueError(f"{name}: cannot be read ({err.strerror or err})") from None
        if entry is not None and len(data) != entry["bytes"]:
            raise ValueError(f"{name}: {len(data)} bytes, state.json says {entry['bytes']} (truncated or damaged)")
        if entry is not None and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{name}: its SHA-256 does not match state.json (damaged)")
        try:
            tensors = load_tensors(data)
        except (SafetensorError, ValueError, RuntimeError, OverflowError) as err:
            raise ValueError(f"{name}: not a readable safetensors file ({err})") from None
        check_finite(name, tensors)
        files[name[: -len(".safetensors")]] = tensors
    return files, tuple(missing)


def check_finite(name: str, tensors: dict[str, torch.Tensor]) -> None:
    """Raises ValueError naming the first floating-point tensor that holds NaN or an infinity."""
    for key, tensor in tensors.items():
        if tensor.is_floating_point() or tensor.is_complex():
            values = tensor.float() if tensor.element_size() == 1 else tensor
            if not bool(torch.isfinite(values).all()):
                raise ValueError(f"{name}: tensor {key!r} holds NaN or infinite values")


def _manifest(directory: Path, state: dict) -> dict[str, dict | None]:
    """``{file name: {"bytes", "sha256"}}``; for a checkpoint of the first format, the files present (no entries)."""
    if state["format"] == LEGACY_FORMAT:
        return {MODEL_FILE: None, **{p.name: None for p in sorted(directory.glob("*.safetensors"))
                                     if _FILE_NAME.match(p.name)}}
    manifest = state.get("files")
    if not isinstance(manifest, dict) or MODEL_FILE not in manifest or not all(
            isinstance(name, str) and _FILE_NAME.match(name) and isinstance(entry, dict)
            and isinstance(entry.get("bytes"), int) and isinstance(entry.get("sha256"), str)
            for name, entry in manifest.items()):
        raise ValueError("state.json: expected a 'files' list of the tensor files with their sizes and checksums")
    return manifest
