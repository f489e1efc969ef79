"""CTC: the loss against path sums worked by hand and by enumeration, greedy collapse, prefix beam search."""
import itertools
import math

import pytest
import torch

from rnnkit.nn.ctc import ctc_loss, frame_labels, greedy_decode, prefix_beam_search


def collapse(path):
    """B(π): merge repeats, then drop blanks."""
    return tuple(c for k, c in enumerate(path) if c != 0 and (k == 0 or path[k - 1] != c))


def labelling_probabilities(probs: torch.Tensor) -> dict:
    """p(y | x) of every labelling, by summing the probability of all C^T paths."""
    totals: dict = {}
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        p = math.prod(float(probs[t, c]) for t, c in enumerate(path))
        totals[collapse(path)] = totals.get(collapse(path), 0.0) + p
    return totals


def loss_of(probs: torch.Tensor, target: list[int]) -> float:
    log_probs = probs.log()[None]                                                  # (1, T, C)
    return float(ctc_loss(log_probs, torch.tensor([probs.shape[0]]), torch.tensor([target or [0]]),
                          torch.tensor([len(target)])))


# Two frames, blank p = 0.6 and "a" p = 0.4 at each: p("") = 0.6 * 0.6 = 0.36 (path ∅∅) and
# p("a") = 0.4 * 0.4 + 0.4 * 0.6 + 0.6 * 0.4 = 0.64 (paths aa, a∅, ∅a).
AMBIGUOUS = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64)


def test_hand_worked_path_sums_equal_exp_minus_loss():
    assert math.exp(-loss_of(AMBIGUOUS, [1])) == pytest.approx(0.64)
    assert math.exp(-loss_of(AMBIGUOUS, [])) == pytest.approx(0.36)


def test_loss_equals_the_sum_over_all_paths():
    probs = torch.randn(5, 3, dtype=torch.float64).softmax(-1)
    totals = labelling_probabilities(probs)
    for target in ([1], [1, 2], [1, 1], [2, 1, 2], [2, 2, 2]):
        assert math.exp(-loss_of(probs, target)) == pytest.approx(totals.get(tuple(target), 0.0), rel=1e-6)


def test_batch_loss_is_the_mean_per_utterance_and_impossible_targets_count_zero():
    probs = torch.randn(2, 4, 3).softmax(-1)
    targets = torch.tensor([[1, 2, 0], [2, 1, 2]])
    loss = ctc_loss(probs.log(), torch.tensor([4, 2]), targets, torch.tensor([2, 3]))   # row 2: 3 symbols in 2 frames
    assert float(loss) == pytest.approx(loss_of(probs[0].double(), [1, 2]) / 2, rel=1e-5)
    logits = probs.log().requires_grad_()
    ctc_loss(logits, torch.tensor([4, 2]), targets, torch.tensor([2, 3])).backward()
    assert bool(torch.isfinite(logits.grad).all())


def test_greedy_collapses_repeats_and_drops_blanks_within_each_length():
    best = torch.tensor([[1, 1, 0, 1, 2, 2, 0], [0, 3, 3, 3, 0, 3, 1]])            # frame-wise argmax
    log_probs = torch.nn.functional.one_hot(best, 4).float().log_softmax(-1)
    assert greedy_decode(log_probs, torch.tensor([7, 6])) == [[1, 1, 2], [3, 3]]
    assert frame_labels(log_probs[0], ["a", "b", "c"]) == ["a", "a", "", "a", "b", "b", ""]


def test_beam_finds_the_labelling_greedy_misses():
    lengths = torch.tensor([2])
    assert greedy_decode(AMBIGUOUS.log()[None], lengths) == [[]]                   # path ∅∅: p("") = 0.36
    (best, score), *_ = prefix_beam_search(AMBIGUOUS.log(), beam_size=2)
    assert best == (1,) and math.exp(score) == pytest.approx(0.64)


def test_a_wide_beam_finds_the_most_probable_labelling_with_its_probability():
    torch.manual_seed(3)
    for _ in range(5):
        probs = torch.randn(5, 3, dtype=torch.float64).mul(2).softmax(-1)
        totals = labelling_probabilities(probs)
        found = prefix_beam_search(probs.log(), beam_size=100, prune=-math.inf)
        for labelling, score in found[:5]:
            assert math.exp(score) == pytest.approx(totals[labelling], rel=1e-9)
        assert found[0][0] == max(totals, key=totals.get)


def test_a_language_model_can_tip_the_decision():
    # Frames favour "a b" (0.55 vs 0.45 for "a a" at frame 3); an LM that dislikes b after a reverses it.
    probs = torch.tensor([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.0, 0.45, 0.55]], dtype=torch.float64).clamp(min=1e-9)
    assert prefix_beam_search(probs.log(), 4)[0][0] == (1, 2)
    lm = (lambda prefix, c: math.log(0.05) if prefix[-1:] == (1,) and c == 2 else math.log(0.5))
    assert prefix_beam_search(probs.log(), 4, lm=lm, lm_weight=1.0)[0][0] == (1, 1)


def test_beam_size_must_be_positive():
    with pytest.raises(ValueError, match="beam_size"):
        prefix_beam_search(AMBIGUOUS.log(), 0)
