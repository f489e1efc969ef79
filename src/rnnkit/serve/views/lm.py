"""The language-model view: text written piece by piece, coloured by one unit of one gate; the units that
track line position, quotes, brackets and line ends; the next-token probabilities after every piece;
the gradient flow through the text. The computations are :class:`rnnkit.tasks.lm_trace.LanguageModelTracer`'s.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .. import fields
from ..limits import Limits
from . import View, significant

UNITS_SHOWN = 24                      # the best-ranked units the picker lists
UNIT_TEXT_CHARACTERS = 50_000         # of the validation text, enough for the ranking's windows
DIGITS = 4


@dataclass
class LanguageModelRun:
    """A loaded language-model run: the tracer, where its validation text comes from, the ranking once made."""

    tracer: Any
    corpus: dict | None
    step: int
    ranking: dict | None = None
    ranking_source: str = ""
    ranking_error: str | None = None


def load(path: Path, device) -> LanguageModelRun:
    from ...tasks.lm import load_language_model
    from ...tasks.lm_trace import LanguageModelTracer

    model, vocab, checkpoint = load_language_model(path, device)
    return LanguageModelRun(LanguageModelTracer(model, vocab), checkpoint.metadata.get("corpus"), checkpoint.step)


def describe(run: LanguageModelRun) -> dict:
    config = run.tracer.model.config
    return {"cell": config.cell, "layers": run.tracer.layers, "level": run.tracer.vocab.level,
            "vocab_size": len(run.tracer.vocab), "step": run.step,
            "corpus": None if run.corpus is None else Path(run.corpus["name"]).name}


def _selection(run: LanguageModelRun, body: dict) -> tuple[int, str, int]:
    """The ``(layer, gate, unit)`` the text is coloured by."""
    layers = run.tracer.layers
    layer = fields.number(body, "layer", 0, len(layers) - 1, 0, integer=True)
    gate = fields.choice(body, "gate", tuple(layers[layer]), next(iter(layers[layer])))
    unit = fields.number(body, "unit", 0, layers[layer][gate]["width"] - 1, 0, integer=True)
    return layer, gate, unit


def _pieces(trace, selection: tuple[int, str, int]) -> dict:
    """A trace as the page draws it: pieces, the chosen unit's values, the next-token probabilities."""
    layer, gate, unit = selection
    return {"pieces": trace.pieces, "values": significant(trace.gates[layer][gate][:, unit]),
            "top": [[[token, round(p, DIGITS)] for token, p in row] for row in trace.top],
            "generated": trace.generated}


def read(run: LanguageModelRun, body: dict, limits: Limits) -> dict:
    """The text's pieces coloured by the chosen unit (what the page redraws when the unit changes)."""
    text = fields.text(body, "text", limits.max_page_text)
    return _pieces(run.tracer.read(text), _selection(run, body))


def generate(run: LanguageModelRun, body: dict, limits: Limits) -> Iterator[dict]:
    """Streams the prime's pieces, then one event per written piece, then ``{"kind": "done"}``."""
    prime = fields.text(body, "prime", limits.max_text, "") or "\n"
    length = fields.number(body, "length", 1, limits.max_length, 200, integer=True)
    options = {"temperature": fields.number(body, "temperature", 0.0, 10.0, 1.0, low_open=True),
               "top_k": fields.number(body, "top_k", 1, len(run.tracer.vocab), None, integer=True),
               "top_p": fields.number(body, "top_p", 0.0, 1.0, None, low_open=True),
               "seed": fields.number(body, "seed", 0, 2 ** 32 - 1, None, integer=True)}
    selection = _selection(run, body)
    if not run.tracer.pieces(prime)[0]:
        raise ValueError("prime: no token in it")
    return _events(run.tracer.write(prime, length, **options), selection)


def _events(traces, selection) -> Iterator[dict]:
    started, count = time.perf_counter(), 0
    for trace in traces:
        count += len(trace)
        yield {"kind": "pieces", **_pieces(trace, selection)}
    yield {"kind": "done", "pieces": count, "seconds": round(time.perf_counter() - started, 3)}


def units(run: LanguageModelRun, body: dict, limits: Limits) -> dict:
    """The units of one layer and gate, best correlated with a feature of the validation text first."""
    layer, gate, _ = _selection(run, body)
    if run.ranking is None and run.ranking_error is None:
        _rank(run)
    if run.ranking_error is not None:
        raise ValueError(f"units: {run.ranking_error}")
    scores = run.ranking[(layer, gate)][:UNITS_SHOWN]
    return {"source": run.ranking_source,
            "units": [{"unit": s.unit, "feature": s.feature, "r": round(s.r, DIGITS)} for s in scores]}


def _rank(run: LanguageModelRun) -> None:
    """Ranks every layer's and gate's units on the run's validation text, once."""
    from ...data import split_corpus

    if run.corpus is None:
        run.ranking_error = "the run does not record its corpus, so there is no validation text to rank units on"
        return
    try:
        text = split_corpus(run.corpus)[1][:UNIT_TEXT_CHARACTERS]
    except (OSError, ValueError, ImportError) as err:
        run.ranking_error = f"the validation text of {run.corpus['name']} cannot be read ({err})"
        return
    run.ranking = run.tracer.rank_units(text)
    run.ranking_source = f"the validation split of {Path(run.corpus['name']).name}"


def gradients(run: LanguageModelRun, body: dict, limits: Limits) -> dict:
    """``‖∂L_t/∂h_k‖`` of one layer over the text's last ``limits.max_gradient_tokens`` tokens."""
    text = fields.text(body, "text", limits.max_page_text)
    layer = fields.number(body, "layer", 0, len(run.tracer.layers) - 1, 0, integer=True)
    pieces, flow = run.tracer.gradient_flow(text, last=limits.max_gradient_tokens)
    norms = flow.norms[layer]                                                         # (T, T)
    return {"pieces": pieces, "layer": layer, "norms": significant(norms),
            "shown": len(pieces), "of": len(run.tracer.pieces(text)[0]) - 1}


VIEW = View(name="lm", title="language model", tasks=("lm",), load=load, describe=describe,
            actions={"read": read, "units": units, "gradients": gradients}, streams={"generate": generate})
