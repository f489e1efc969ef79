"""Discriminative learning rates and gradual unfreezing (rnnkit.train.finetune) through the Trainer."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.nn.losses import LossOutput
from rnnkit.train import Callback, TrainConfig, Trainer
from rnnkit.train.finetune import GradualUnfreezing, discriminative_groups
from rnnkit.train.optim import LRSchedule
from tiny_tasks import regression_batches


class Stack(nn.Module):
    """Three linear layers, bottom to top; the mean squared error of ``(x, y)`` batches."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 1)])

    def layer_groups(self):
        return [list(layer.parameters()) for layer in self.layers]

    def loss(self, batch, state=None):
        x, y = batch
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return LossOutput(F.mse_loss(self.layers[-1](x).squeeze(-1), y), x.shape[0])


class GroupLRs(Callback):
    """Records every parameter group's lr at each optimizer step."""

    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, logs):
        self.rows.append([group["lr"] for group in trainer.optimizer.param_groups])


def test_each_group_follows_the_schedule_times_decay_to_the_minus_its_depth():
    model, recorder = Stack(), GroupLRs()
    config = TrainConfig(lr=0.1, schedule="cosine", warmup_steps=2, epochs=2, progress=False)
    trainer = Trainer(model, config, callbacks=[recorder], device="cpu",
                      param_groups=discriminative_groups(model.layer_groups(), 2.6))
    trainer.fit(regression_batches(count=4))
    schedule = LRSchedule(config, total_steps=8)
    assert len(recorder.rows) == 8
    for step, row in enumerate(recorder.rows):
        assert row == pytest.approx([schedule.lr(step) / 2.6 ** 2, schedule.lr(step) / 2.6, schedule.lr(step)])
    assert trainer.history.history["lr"][-1] == pytest.approx(schedule.lr(7))   # the log shows the schedule's


def test_a_group_moves_by_its_own_learning_rate():
    model = Stack()
    before = [p.detach().clone() for p in model.parameters()]
    batch = regression_batches(count=1)[0]
    model.loss(batch).loss.backward()
    gradients = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    trainer = Trainer(model, TrainConfig(optimizer="sgd", momentum=0.0, lr=0.5, clip_norm=None, progress=False),
                      device="cpu", param_groups=discriminative_groups(model.layer_groups(), 4.0))
    trainer.fit([batch])
    scales = [1 / 16] * 2 + [1 / 4] * 2 + [1.0] * 2                   # weight and bias of each layer
    for p, p0, g, scale in zip(model.parameters(), before, gradients, scales):
        assert torch.allclose(p.detach(), p0 - 0.5 * scale * g, atol=1e-7)


def test_gradual_unfreezing_trains_one_group_more_per_epoch():
    model = Stack()
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, logs):
            snapshots.append([[p.detach().clone() for p in layer.parameters()] for layer in model.layers])

    start = [[p.detach().clone() for p in layer.parameters()] for layer in model.layers]
    trainer = Trainer(model, TrainConfig(lr=0.01, epochs=3, progress=False), device="cpu",
                      callbacks=[GradualUnfreezing(model.layer_groups()), Snapshot()])
    trainer.fit(regression_batches(count=3))

    def changed(a, b):
        return [any(not torch.equal(x, y) for x, y in zip(layer_a, layer_b)) for layer_a, layer_b in zip(a, b)]

    assert changed(start, snapshots[0]) == [False, False, True]         # epoch 0: the head alone
    assert changed(snapshots[0], snapshots[1]) == [False, True, True]   # epoch 1: one group more
    assert changed(snapshots[1], snapshots[2]) == [True, True, True]
    assert all(p.requires_grad for p in model.parameters())              # everything trainable after fit


def test_groups_must_cover_the_model_once():
    model = Stack()
    groups = model.layer_groups()
    with pytest.raises(ValueError, match="every trainable parameter of the model once"):
        Trainer(model, TrainConfig(progress=False), device="cpu", param_groups=discriminative_groups(groups[1:], 2.6))
    with pytest.raises(ValueError, match="every trainable parameter of the model once"):
        Trainer(model, TrainConfig(progress=False), device="cpu",
                param_groups=discriminative_groups([*groups, groups[0]], 2.6))
    with pytest.raises(ValueError, match="decay: expected a finite number >= 1"):
        discriminative_groups(groups, 0.5)
    with pytest.raises(ValueError, match="optimizer object has its own groups"):
        Trainer(model, TrainConfig(progress=False), device="cpu", optimizer=torch.optim.SGD(model.parameters(), 0.1),
                param_groups=discriminative_groups(groups, 2.6))
