"""Unit ranking: the text features after each piece, Pearson correlations, a planted unit found first."""
import numpy as np
import torch

from rnnkit.diagnostics.units import FEATURES, correlations, rank_units, text_features


def test_features_after_each_character():
    text = 'ab "c" (d)\n“e”\n'
    features = text_features(list(text))
    assert list(features) == list(FEATURES)
    assert features["position in line"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 0]
    assert features["inside quotes"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    assert features["inside brackets"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert features["line end"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]


def test_features_of_word_pieces_count_characters():
    features = text_features(["one", " two", "\n", "three"])
    assert features["position in line"].tolist() == [3, 7, 0, 5]
    assert features["line end"].tolist() == [0, 1, 0, 0]


def test_correlations_are_pearsons_and_zero_for_constants():
    rng = np.random.default_rng(0)
    activations = torch.tensor(rng.normal(size=(50, 4)))
    activations[:, 2] = 1.5                                                       # a constant unit
    features = {"a": torch.tensor(rng.normal(size=50)), "flat": torch.zeros(50)}
    r = correlations(activations, features)
    assert r.shape == (2, 4)
    for unit in (0, 1, 3):
        assert abs(float(r[0, unit]) - np.corrcoef(activations[:, unit], features["a"])[0, 1]) < 1e-12
    assert float(r[:, 2].abs().max()) == 0.0 and float(r[1].abs().max()) == 0.0


def test_a_planted_unit_ranks_first():
    text = "the quick (brown) fox\njumps \"over\" it\n" * 5
    features = text_features(list(text))
    noise = torch.randn(len(text), 6) * 0.1
    noise[:, 4] += features["inside brackets"]
    noise[:, 1] -= features["position in line"] / 20
    ranked = rank_units(noise, features)
    assert [s.unit for s in ranked[:2]] == [4, 1] or [s.unit for s in ranked[:2]] == [1, 4]
    best = {s.unit: s for s in ranked}
    assert best[4].feature == "inside brackets" and best[4].r > 0.9
    assert best[1].feature == "position in line" and best[1].r < -0.9
    assert [abs(s.r) for s in ranked] == sorted((abs(s.r) for s in ranked), reverse=True)
