r"""Which unit tracks what: each unit's activation correlated with simple features of the text it read.

Karpathy's char-rnn pictures found cells that count the position in a line, switch on inside
quotes, or fire before a line ends. Here every unit is scored by the Pearson correlation of its
activation ``a_t`` (after reading piece t) with each feature ``f_t`` of the text::

    r(a, f) = Σ_t (a_t - ā)(f_t - f̄) / sqrt(Σ_t (a_t - ā)² Σ_t (f_t - f̄)²)

and units are ranked by their largest ``|r|`` over the features. A constant feature (no quotes in
the text) or a constant unit scores 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "«": "»"}
SAME_QUOTES = frozenset('"')
OPENING_BRACKETS = frozenset("([{（［｛《〈【〔")
CLOSING_BRACKETS = frozenset(")]}）］｝》〉】〕")
FEATURES = ("position in line", "inside quotes", "inside brackets", "line end")


@dataclass(frozen=True)
class UnitScore:
    """One unit's best feature: ``r`` is its Pearson correlation with ``feature`` (module docstring)."""

    unit: int
    feature: str
    r: float


def text_features(pieces: Sequence[str]) -> dict[str, torch.Tensor]:
    """The features of a text after reading each of its pieces (characters or words), ``{name: (T,)}``.

    - position in line: characters since the last newline (a newline reads 0);
    - inside quotes: 1 while a quotation is open (``"`` toggles; “ ” 「 」 『 』 « » pair up);
    - inside brackets: 1 while a bracket ( [ { （ 《 【 ... is open;
    - line end: 1 when the next piece is a newline.
    """
    position, quotes, brackets, line_end = [], [], [], []
    column, depth, open_quotes = 0, 0, []
    for index, piece in enumerate(pieces):
        for ch in piece:
            column = 0 if ch == "\n" else column + 1
            if ch in SAME_QUOTES and open_quotes[-1:] == [ch]:
                open_quotes.pop()
            elif ch in SAME_QUOTES or ch in QUOTE_PAIRS:
                open_quotes.append(QUOTE_PAIRS.get(ch, ch))
            elif open_quotes and ch == open_quotes[-1]:
                open_quotes.pop()
            depth += ch in OPENING_BRACKETS
            depth = max(0, depth - (ch in CLOSING_BRACKETS))
        following = pieces[index + 1] if index + 1 < len(pieces) else ""
        position.append(column)
        quotes.append(bool(open_quotes))
        brackets.append(depth > 0)
        line_end.append(following.lstrip(" ").startswith("\n"))
    values = (position, quotes, brackets, line_end)
    return {name: torch.tensor(column_values, dtype=torch.float64) for name, column_values in zip(FEATURES, values)}


def correlations(activations: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Pearson ``r`` of every unit with every feature: ``activations (N, H)``, features ``(N,)`` each
    -> ``(F, H)`` in the features' order; 0 where a unit or a feature is constant."""
    if activations.dim() != 2:
        raise ValueError(f"activations: expected (N, H), got shape {tuple(activations.shape)}")
    for name, values in features.items():
        if values.shape != activations.shape[:1]:
            raise ValueError(f"features: {name!r} has shape {tuple(values.shape)}, expected ({activations.shape[0]},)")
    a = activations.double() - activations.double().mean(0)                          # (N, H)
    stacked = torch.stack(list(features.values()), dim=1).double()                   # (N, F)
    f = stacked - stacked.mean(0)                                                      # (N, F)
    norms = f.norm(dim=0)[:, None] * a.norm(dim=0)[None, :]                            # (F, H)
    r = (f.T @ a) / norms.clamp_min(1e-300)                                            # (F, H)
    return r.masked_fill(norms <= 1e-12, 0.0)


def rank_units(activations: torch.Tensor, features: dict[str, torch.Tensor]) -> list[UnitScore]:
    """Every unit with its best feature, highest ``|r|`` first (see :func:`correlations` for the shapes)."""
    r = correlations(activations, features)                                            # (F, H)
    best = r.abs().argmax(dim=0)                                                       # (H,)
    names = list(features)
    scores = [UnitScore(unit, names[int(best[unit])], float(r[best[unit], unit])) for unit in range(r.shape[1])]
    return sorted(scores, key=lambda score: -abs(score.r))
