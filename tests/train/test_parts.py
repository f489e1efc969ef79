"""The trainer's parts: state trees, sharding without a process group, meters, RNG states, step timing."""
import random

import numpy as np
import pytest
import torch

from rnnkit import LSTMState
from rnnkit.train.distributed import Replicas, shard
from rnnkit.train.metrics import Meter
from rnnkit.train.plan import step_seconds
from rnnkit.train.rng import get_rng_state, set_rng_state
from rnnkit.train.tree import detach, flatten, unflatten

from tiny_tasks import Regression, regression_batches


def test_flatten_round_trip_keeps_named_tuples():
    state = [LSTMState(torch.ones(1, 2, 3), torch.zeros(1, 2, 3)), None, {"h": torch.arange(3)}, (torch.ones(1),)]
    structure, tensors = flatten(state)
    assert len(tensors) == 4
    rebuilt = unflatten(structure, tensors)
    assert type(rebuilt[0]) is LSTMState and torch.equal(rebuilt[0].c, state[0].c)
    assert rebuilt[1] is None and torch.equal(rebuilt[2]["h"], state[2]["h"]) and isinstance(rebuilt[3], tuple)


def test_detach_keeps_the_structure():
    h = torch.ones(2, requires_grad=True) * 2
    out = detach(LSTMState(h, h))
    assert type(out) is LSTMState and not out.h.requires_grad and torch.equal(out.h, h)


def test_strided_shard_gives_complete_rounds_only():
    batches = list(range(7))
    parts = [list(shard(batches, Replicas(rank=r, world_size=2))) for r in range(2)]
    assert parts == [[0, 2, 4], [1, 3, 5]]
    assert len(shard(batches, Replicas(rank=1, world_size=2))) == 3


def test_carried_streams_need_their_own_shard():
    class Carried(list):
        carry_state = True

    with pytest.raises(ValueError, match="data: Carried carries state between batches, so it needs a shard"):
        shard(Carried([1, 2]), Replicas(rank=0, world_size=2))


def test_meter_weights_by_count():
    meter = Meter()
    meter.add(1.0, 1, {"accuracy": 0.0})
    meter.add(3.0, 3, {"accuracy": 1.0})
    means, count = meter.summary()
    assert means == {"accuracy": 0.75, "loss": 2.5} and count == 4
    assert Meter().summary() == ({}, 0.0)


def test_rng_states_round_trip():
    state = get_rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(state)
    assert (random.random(), np.random.rand()) == draws[:2] and torch.equal(torch.rand(1), draws[2])


def test_step_seconds_times_each_pass_after_the_warm_up_and_leaves_the_model_unchanged():
    class Ticking(Regression):                       # each loss advances the clock by its batch's rows
        now = 0.0

        def loss(self, batch, state=None):
            Ticking.now += batch[0].shape[0]
            return super().loss(batch, state)

    model = Ticking().eval()
    before = [p.detach().clone() for p in model.parameters()]
    batches = [(x[:rows], y[:rows]) for rows, (x, y) in zip([4, 2, 3, 1], regression_batches(4))]
    assert step_seconds(model, batches, steps=2, warmup=1, clock=lambda: Ticking.now) == [2.0, 3.0]
    assert step_seconds(model, batches, steps=9, warmup=2, clock=lambda: Ticking.now) == [3.0, 1.0]  # ran out
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
