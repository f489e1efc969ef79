"""The CRF against brute-force enumeration of every tag path, constraints, padding, bad input."""
import itertools
import math

import pytest
import torch

from rnnkit.nn.crf import CRF, IMPOSSIBLE, transition_constraints

BMES = ["B", "M", "E", "S"]
BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@torch.no_grad()
def brute_force(crf: CRF, emissions: torch.Tensor, constrained: bool):
    """``(log Z, best path, best score)`` of one sequence ``(T, K)`` by enumerating the K^T paths."""
    allowed, allowed_start, allowed_end = crf.allowed, crf.allowed_start, crf.allowed_end
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=emissions.shape[0]):
        valid = bool(allowed_start[path[0]]) and bool(allowed_end[path[-1]]) and all(
            bool(allowed[a, b]) for a, b in zip(path, path[1:]))
        if constrained and not valid:
            continue
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[t, k] for t, k in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        scores[path] = float(score)
    log_z = math.log(sum(math.exp(s) for s in scores.values()))
    best = max(scores, key=scores.get)
    return log_z, list(best), scores[best]


def _crf(tags, scheme, seed=0):
    torch.manual_seed(seed)
    constraints = transition_constraints(tags, scheme) if scheme else None
    crf = CRF(len(tags), constraints).double()
    with torch.no_grad():                                                      # larger than the init, so paths differ
        for p in crf.parameters():
            p.normal_(0, 1.0)
    return crf


@pytest.mark.parametrize("tags, scheme", [(BMES, None), (BMES, "bmes"), (BIO, "bio"),
                                          (["O", "B-X", "I-X", "E-X", "S-X"], "bioes")])
def test_log_partition_and_viterbi_match_enumeration(tags, scheme):
    crf = _crf(tags, scheme)
    lengths = torch.tensor([4, 1, 3])
    emissions = torch.randn(3, 4, len(tags), dtype=torch.float64) * 2
    log_z = crf.log_partition(emissions, lengths)
    paths, best_scores = crf.decode(emissions, lengths)
    for b, n in enumerate(lengths.tolist()):
        want_z, want_path, want_score = brute_force(crf, emissions[b, :n], constrained=scheme is not None)
        assert log_z[b].item() == pytest.approx(want_z, abs=1e-9)
        assert paths[b, :n].tolist() == want_path
        assert paths[b, n:].tolist() == [-1] * (4 - n)
        assert best_scores[b].item() == pytest.approx(want_score, abs=1e-9)


def test_path_score_and_likelihood_sum_to_one():
    crf = _crf(BIO, "bio", seed=1)
    emissions = torch.randn(1, 3, len(BIO), dtype=torch.float64)
    log_z = crf.log_partition(emissions)
    total = 0.0
    for path in itertools.product(range(len(BIO)), repeat=3):
        nll = crf.neg_log_likelihood(emissions, torch.tensor([path]))
        total += math.exp(-nll.item())
        assert crf.path_score(emissions, torch.tensor([path])).item() == pytest.approx(
            log_z.item() - nll.item(), abs=1e-9)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_padding_equals_the_unpadded_row():
    crf = _crf(BMES, "bmes", seed=2)
    emissions = torch.randn(2, 6, 4, dtype=torch.float64)
    tags = torch.tensor([[3, 0, 2, 3, 0, 2], [0, 1, 2, 1, 1, 1]])
    padded = crf.neg_log_likelihood(emissions, tags, torch.tensor([6, 3]))
    alone = crf.neg_log_likelihood(emissions[1:, :3], tags[1:, :3])
    assert padded[1].item() == pytest.approx(alone.item(), abs=1e-12)
    decoded, _ = crf.decode(emissions, torch.tensor([6, 3]))
    assert decoded[1, :3].tolist() == crf.decode(emissions[1:, :3])[0][0].tolist()


def test_gradients_reach_every_parameter_and_training_learns_a_path():
    crf = CRF(4, transition_constraints(BMES, "bmes"))
    emissions = torch.zeros(1, 5, 4, requires_grad=True)
    gold = torch.tensor([[0, 2, 0, 1, 2]])                                     # B E B M E
    optimizer = torch.optim.Adam([emissions, *crf.parameters()], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        crf.neg_log_likelihood(emissions, gold).sum().backward()
        optimizer.step()
    assert crf.decode(emissions)[0].tolist() == gold.tolist()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in crf.parameters())


def test_bmes_constraints():
    allowed, start, end = transition_constraints(BMES, "bmes")
    follows = {(BMES[i], BMES[j]) for i in range(4) for j in range(4) if allowed[i, j]}
    assert follows == {("B", "M"), ("B", "E"), ("M", "M"), ("M", "E"), ("E", "B"), ("E", "S"),
                       ("S", "B"), ("S", "S")}
    assert [BMES[i] for i in range(4) if start[i]] == ["B", "S"]
    assert [BMES[i] for i in range(4) if end[i]] == ["E", "S"]


def test_bio_constraints():
    allowed, start, end = transition_constraints(BIO, "bio")
    forbidden = {(BIO[i], BIO[j]) for i in range(5) for j in range(5) if not allowed[i, j]}
    assert forbidden == {("O", "I-PER"), ("O", "I-LOC"), ("B-PER", "I-LOC"), ("I-PER", "I-LOC"),
                         ("B-LOC", "I-PER"), ("I-LOC", "I-PER")}
    assert not start[2] and not start[4] and bool(end.all())


def test_constrained_decoding_never_returns_a_forbidden_path():
    crf = CRF(4, transition_constraints(BMES, "bmes"))
    emissions = torch.zeros(1, 3, 4)
    emissions[0, :, 1] = 50.0                                                  # M everywhere is the local favourite
    path = crf.decode(emissions)[0][0].tolist()
    assert path == [0, 1, 2]                                                   # B M E: the best valid path
    assert crf.scores()[0][3, 1].item() == IMPOSSIBLE


@pytest.mark.parametrize("call, message", [
    (lambda c: c.log_partition(torch.randn(2, 3, 5)), "emissions: expected shape"),
    (lambda c: c.log_partition(torch.randn(2, 3, 4), torch.tensor([3, 0])), "lengths: expected 2 integers"),
    (lambda c: c.path_score(torch.randn(2, 3, 4), torch.full((2, 3), 4)), "tags: expected ids in"),
    (lambda c: CRF(0), "num_tags: expected a positive integer"),
    (lambda c: transition_constraints(["B", "X"], "bmes"), "expects the tags B, M, E, S, got 'X'"),
    (lambda c: transition_constraints(["O", "PER"], "bio"), "expects O or B/I-TYPE"),
    (lambda c: transition_constraints(BMES, "iob9"), "scheme: expected one of"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call(CRF(4))
