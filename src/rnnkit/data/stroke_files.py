r"""Reading drawings from files: SVG paths (KanjiVG's format) and JSON strokes, with bounded reads.

SVG path data (``d``) is evaluated exactly: a cubic Bézier segment from P0 with controls P1, P2 to P3 is

    B(t) = (1-t)³ P0 + 3 (1-t)² t P1 + 3 (1-t) t² P2 + t³ P3,     t ∈ [0, 1]

sampled at ``t = k / n``; quadratic ones ``(1-t)² P0 + 2 (1-t) t P1 + t² P2``. The commands are SVG's
``M L H V C S Q T Z`` in absolute (upper case) and relative (lower case) form; ``S`` / ``T`` reflect
the previous control point. Each subpath (from an ``M``) is one stroke. Arcs (``A``) are refused.

Files are untrusted: at most :data:`MAX_DRAWING_BYTES` are read, XML entity declarations and
external entities are refused, and anything malformed is a ValueError naming the file.
"""
from __future__ import annotations

import json
import re
import xml.parsers.expat
from pathlib import Path

import numpy as np

from .strokes import Drawing

MAX_DRAWING_BYTES = 4 * 2 ** 20           # one drawing: a KanjiVG file is ~3 kB
MAX_CORPUS_BYTES = 512 * 2 ** 20          # a JSON / JSON-lines corpus of drawings
SEGMENT_SAMPLES = 16                      # points per curve segment (resampling evens them out later)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"([MmLlHhVvCcSsQqTtZzAa])|" + _NUMBER.pattern + r"|([,\s]+)")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "Z": 0}


def _tokens(d: str) -> list[str | float]:
    """Commands (str) and numbers (float) of path data; ValueError at anything else."""
    out, pos = [], 0
    while pos < len(d):
        match = _TOKEN.match(d, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected {d[pos:pos + 12]!r} at character {pos}")
        if match.group(1):
            out.append(match.group(1))
        elif not match.group(2):
            out.append(float(match.group(0)))
        pos = match.end()
    return out


def bezier(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points ``(len(t), 2)`` of the Bézier curve of control points ``(k + 1, 2)`` (k = 1, 2, 3) at ``t``."""
    k = len(points) - 1
    t = t[:, None]
    weights = {1: [1 - t, t],
               2: [(1 - t) ** 2, 2 * (1 - t) * t, t ** 2],
               3: [(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3]}[k]
    return sum(w * p for w, p in zip(weights, points))


def parse_path(d: str, samples: int = SEGMENT_SAMPLES) -> list[np.ndarray]:
    """The subpaths of SVG path data ``d`` as ``(n, 2)`` point arrays (module docstring).

    Arguments:
        d: the ``d`` attribute.  samples: points per curve segment after its start.
    Raises:
        ValueError: a malformed path, an arc, or numbers that do not fill a command's arguments.
    """
    tokens = _tokens(d)
    strokes: list[list[np.ndarray]] = []
    here = start = np.zeros(2)
    control = None                      # the last control point, for S / T reflection
    last = ""
    t = np.arange(1, samples + 1) / samples
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if isinstance(token, str):
            command, i = token, i + 1
        elif last:                      # an implicit repeat; after M it means L
            command = {"M": "L", "m": "l"}.get(last, last)
        else:
            raise ValueError("path data must begin with a command (M)")
        upper = command.upper()
        if upper == "A":
            raise ValueError("arc commands (A) are not supported")
        if not strokes and upper != "M":
            raise ValueError("path data must begin with a command (M)")
        n = _ARITY[upper]
        args = tokens[i:i + n]
        if len(args) < n or any(isinstance(a, str) for a in args):
            raise ValueError(f"{command} expects {n} numbers")
        i += n
        relative = command.islower() and upper != "Z"
        if upper in "HV":
            value = args[0] + (here[0 if upper == "H" else 1] if relative else 0.0)
            args = [value, here[1]] if upper == "H" else [here[0], value]
            relative = False
        xy = np.array(args, dtype=np.float64).reshape(-1, 2) + (here if relative else 0.0)
        if upper == "M":
            here = start = xy[0]
            strokes.append([here[None]])
        elif upper in "LHV":
            strokes[-1].append(xy)
        elif upper == "Z":
            strokes[-1].append(start[None])
            xy = start[None]
        else:
            if upper in "ST":           # reflect the previous control point of a curve of the same kind
                same = (upper == "S" and last.upper() in "CS") or (upper == "T" and last.upper() in "QT")
                xy = np.concatenate([(2 * here - control if same else here)[None], xy])
            controls = np.concatenate([here[None], xy])
            strokes[-1].append(bezier(controls, t))
            control = controls[-2]
        if upper not in "CSQT":
            control = None
        here, last = xy[-1], command
    return [np.concatenate(parts) for parts in strokes]


def read_bytes(path: str | Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; ValueError naming the file when it holds more."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes, not a drawing file")
    return data


def read_svg(path: str | Path, limit: int = MAX_DRAWING_BYTES) -> Drawing:
    """A drawing of the ``<path>`` (each subpath a stroke), ``<polyline>`` and ``<line>`` elements of an
    SVG file, in document order. KanjiVG's ``kvg:element`` of the outermost group is the label, those of
    its child groups the components.

    Raises:
        ValueError: the file is larger than ``limit``, not well-formed XML, declares entities, has
            malformed path data, or holds no strokes (the message starts with the file name).
    """
    data = read_bytes(path, limit)
    strokes, groups, elements = [], [], []               # groups: (depth, element) of the open <g>s

    def start(name, attributes):
        local = name.rsplit(":", 1)[-1]
        element = next((v for k, v in attributes.items() if k.rsplit(":", 1)[-1] == "element"), None)
        if local == "g":
            groups.append(element)
            if element:
                elements.append((sum(g is not None for g in groups), element))
        elif local == "path" and attributes.get("d"):
            try:
                strokes.extend(parse_path(attributes["d"]))
            except ValueError as err:
                raise ValueError(f"{path}: path {attributes.get('id', len(strokes) + 1)!r}: {err}") from None
        elif local in ("polyline", "polygon") and attributes.get("points"):
            numbers = [float(x) for x in _NUMBER.findall(attributes["points"])]
            if len(numbers) % 2 or not numbers:
                raise ValueError(f"{path}: {local} points: expected x,y pairs")
            closed = numbers + numbers[:2] if local == "polygon" else numbers
            strokes.append(np.array(closed).reshape(-1, 2))
        elif local == "line":
            strokes.append(np.array([[float(attributes.get(k, 0)) for k in ("x1", "y1")],
                                     [float(attributes.get(k, 0)) for k in ("x2", "y2")]]))

    def end(name):
        if name.rsplit(":", 1)[-1] == "g":
            groups.pop()

    def refuse(*_):
        raise ValueError(f"{path}: declares XML entities, which rnnkit does not read")

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.EntityDeclHandler = parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as err:
        raise ValueError(f"{path}: not a well-formed SVG file ({err})") from None
    if not strokes:
        raise ValueError(f"{path}: no strokes (<path>, <polyline> or <line> elements) in it")
    label = elements[0][1] if elements else None
    components = tuple(e for depth, e in elements if depth == 2)
    return Drawing(tuple(strokes), label, components)


def drawing_from_json(value, where: str) -> Drawing:
    """A drawing from parsed JSON: a list of strokes ``[[[x, y], ...], ...]`` or an object
    ``{"strokes": [...], "label": "永"}``; ValueError starting with ``where``."""
    label = None
    if isinstance(value, dict):
        label = value.get("label")
        if label is not None and (not isinstance(label, str) or not label):
            raise ValueError(f"{where}: 'label' must be a non-empty string")
        value = value.get("strokes")
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: expected a list of strokes, each a list of [x, y] points")
    strokes = []
    for k, stroke in enumerate(value):
        if not isinstance(stroke, list) or not stroke or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                                            for c in p) for p in stroke):
            raise ValueError(f"{where}: stroke {k + 1}: expected a non-empty list of [x, y] number pairs")
        points = np.array(stroke, dtype=np.float64)
        if not np.isfinite(points).all():
            raise ValueError(f"{where}: stroke {k + 1}: coordinates must be finite")
        strokes.append(points)
    return Drawing(tuple(strokes), label)


def _json(data: bytes, path: str | Path):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None


def read_json(path: str | Path, limit: int = MAX_DRAWING_BYTES) -> Drawing:
    """One drawing from a JSON file (:func:`drawing_from_json`)."""
    return drawing_from_json(_json(read_bytes(path, limit), path), str(path))


def read_drawing(path: str | Path) -> Drawing:
    """One drawing from an ``.svg`` or ``.json`` file."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".json"):
        raise ValueError(f"{path}: expected a .svg or .json drawing, got a {suffix or 'file without suffix'}")
    return read_svg(path) if suffix == ".svg" else read_json(path)


def read_drawings(path: str | Path) -> list[Drawing]:
    """Labelled drawings from a file: JSON (a list of ``{"label", "strokes"}`` objects) or JSON lines
    (``.jsonl`` / ``.ndjson``: one object a line); or from a folder of ``.svg`` files (labelled by
    their ``kvg:element``, else by their file name's stem)."""
    path = Path(path)
    if path.is_dir():
        drawings = []
        for file in sorted(path.glob("*.svg")):
            d = read_svg(file)
            drawings.append(d if d.label else Drawing(d.strokes, file.stem, d.components))
        if not drawings:
            raise ValueError(f"{path}: no .svg files in this folder")
        return drawings
    data = read_bytes(path, MAX_CORPUS_BYTES)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = [(_json(line, f"{path}:{n}"), f"{path}:{n}") for n, line in enumerate(data.splitlines(), 1)
                   if line.strip()]
    else:
        value = _json(data, path)
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a JSON list of {{\"label\", \"strokes\"}} objects")
        records = [(v, f"{path}: drawing {n}") for n, v in enumerate(value, 1)]
    drawings = [drawing_from_json(v, where) for v, where in records]
    unlabelled = [where for (_, where), d in zip(records, drawings) if d.label is None]
    if unlabelled:
        raise ValueError(f"{unlabelled[0]}: a training drawing needs a 'label'")
    if not drawings:
        raise ValueError(f"{path}: no drawings in it")
    return drawings
