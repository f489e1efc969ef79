"""Optimizers, learning-rate schedules, clipping and accumulation against hand-computed updates."""
import copy
import math

import pytest
import torch

from rnnkit.train import Callback, TrainConfig, Trainer
from rnnkit.train.optim import LRSchedule
from tiny_tasks import Regression, regression_batches


def lrs(schedule, steps):
    return [schedule.lr(s) for s in steps]


def test_warmup_then_constant():
    schedule = LRSchedule(TrainConfig(lr=1.0, warmup_steps=4))
    assert lrs(schedule, [0, 1, 3, 10]) == [0.25, 0.5, 1.0, 1.0]


def test_step_schedule_counts_after_warmup():
    schedule = LRSchedule(TrainConfig(lr=1.0, schedule="step", step_size=3, gamma=0.5, warmup_steps=2))
    assert lrs(schedule, [0, 1, 2, 4, 5, 8]) == [0.5, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_cosine_schedule_reaches_zero_at_the_planned_end():
    schedule = LRSchedule(TrainConfig(lr=1.0, schedule="cosine"), total_steps=10)
    assert lrs(schedule, [0, 5, 10, 12]) == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-12)
    assert schedule.lr(2) == pytest.approx((1 + math.cos(0.2 * math.pi)) / 2)
    warm = LRSchedule(TrainConfig(lr=1.0, schedule="cosine", warmup_steps=2), total_steps=10)
    assert lrs(warm, [0, 1, 6]) == pytest.approx([0.5, 1.0, 0.5])


def test_cosine_needs_a_planned_length():
    with pytest.raises(ValueError, match="schedule: 'cosine' needs the planned number of steps"):
        LRSchedule(TrainConfig(schedule="cosine"))


def test_plateau_reduces_after_patience_validations_without_improvement():
    schedule = LRSchedule(TrainConfig(lr=1.0, schedule="plateau", plateau_patience=1, gamma=0.1))
    factors = []
    for val_loss in [1.0, 1.1, 1.2, 0.5, 0.6, 0.7, 0.8]:
        schedule.observe(val_loss)
        factors.append(schedule.lr(0))
    assert factors == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01])
    restored = LRSchedule(TrainConfig(lr=1.0, schedule="plateau", plateau_patience=1, gamma=0.1))
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr(0) == schedule.lr(0)


class Record(Callback):
    def __init__(self):
        self.lr = []

    def on_train_batch_end(self, trainer, logs):
        self.lr.append(logs["lr"])


def test_trainer_applies_the_schedule_at_every_step():
    record = Record()
    config = TrainConfig(optimizer="sgd", lr=1.0, schedule="step", step_size=2, gamma=0.1, warmup_steps=2,
                         epochs=2, progress=False)
    Trainer(Regression(), config, callbacks=[record]).fit(regression_batches(4))
    assert record.lr == pytest.approx([0.5, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def gradient(model, batch):
    model = copy.deepcopy(model)
    model.loss(batch).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def one_step(model, batch, **config):
    trainer = Trainer(copy.deepcopy(model), TrainConfig(progress=False, **{"clip_norm": None, **config}))
    trainer.fit([batch])
    return dict(trainer.model.named_parameters())


@pytest.mark.parametrize("name, config, update", [
    ("sgd", {"weight_decay": 0.1}, lambda w, g, lr: w - lr * (g + 0.1 * w)),
    ("adam", {}, lambda w, g, lr: w - lr * g / (g.abs() + 1e-8)),
    ("adamw", {"weight_decay": 0.1}, lambda w, g, lr: w * (1 - lr * 0.1) - lr * g / (g.abs() + 1e-8)),
    ("rmsprop", {}, lambda w, g, lr: w - lr * g / ((0.01 * g * g).sqrt() + 1e-8)),
    ("adagrad", {}, lambda w, g, lr: w - lr * g / (g.abs() + 1e-10)),
])
def test_first_update_of_each_optimizer(name, config, update):
    model, batch = Regression(), regression_batches(1)[0]
    grads = gradient(model, batch)
    after = one_step(model, batch, optimizer=name, lr=0.01, **config)
    for key, w in model.named_parameters():
        torch.testing.assert_close(after[key].detach(), update(w.detach(), grads[key], 0.01), rtol=1e-5, atol=1e-7)


def test_sgd_momentum_second_update():
    model, batches = Regression(), regression_batches(2)
    g1 = gradient(model, batches[0])
    middle = copy.deepcopy(model)
    with torch.no_grad():
        for name, w in middle.named_parameters():
            w -= 0.1 * g1[name]                                       # w1 = w0 - lr g1 (buffer = g1)
    g2 = gradient(middle, batches[1])
    after = Trainer(copy.deepcopy(model), TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, clip_norm=None,
                                                      progress=False))
    after.fit(batches)
    for name, w1 in middle.named_parameters():
        expected = w1.detach() - 0.1 * (0.9 * g1[name] + g2[name])    # buffer = 0.9 g1 + g2
        torch.testing.assert_close(dict(after.model.named_parameters())[name].detach(), expected)


@pytest.mark.parametrize("clip, transform", [
    ({"clip_norm": 0.1}, lambda g, norm: g * 0.1 / norm),
    ({"clip_value": 0.05}, lambda g, norm: g.clamp(-0.05, 0.05)),
])
def test_clipping(clip, transform):
    model, batch = Regression(), regression_batches(1)[0]
    grads = gradient(model, batch)
    norm = torch.sqrt(sum((g * g).sum() for g in grads.values()))
    assert norm > 0.1 and max(g.abs().max() for g in grads.values()) > 0.05   # clipping is active
    after = one_step(model, batch, optimizer="sgd", momentum=0.0, lr=1.0, **clip)
    for key, w in model.named_parameters():
        torch.testing.assert_close(after[key].detach(), w.detach() - transform(grads[key], norm))


def concat(batches):
    return tuple(torch.cat(parts) for parts in zip(*batches))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_accumulating_two_batches_equals_one_double_batch(optimizer):
    model, b = Regression(), regression_batches(3)
    config = {"optimizer": optimizer, "lr": 0.05, "epochs": 2}
    accumulated = Trainer(copy.deepcopy(model), TrainConfig(accumulate=2, progress=False, **config))
    accumulated.fit(b)               # steps: (b0 + b1) / 2, then b2 alone (a short accumulation, rescaled)
    single = Trainer(copy.deepcopy(model), TrainConfig(progress=False, **config))
    single.fit([concat(b[:2]), b[2]])
    assert accumulated.step == single.step == 4
    for (name, p), q in zip(accumulated.model.named_parameters(), single.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7, msg=name)
