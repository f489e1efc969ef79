"""The memory-task models: losses against their definitions, per-step losses, metrics, configs."""
import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.synthetic import SequenceBatch, memory_task
from rnnkit.tasks.memory import MemoryModel, MemoryModelConfig, config_for


def model_and_batch(task, lag=None, cell="gru"):
    data = memory_task(task, lag, batch_size=8, test_size=8)
    return MemoryModel(config_for(data, cell, 5)), next(iter(data.train))


def test_adding_loss_is_the_mse_of_the_last_readout():
    model, batch = model_and_batch("adding", 9)
    out = model.loss(batch)
    o = model(batch.x)                                                             # (B, T, 1)
    torch.testing.assert_close(out.loss, ((o[:, -1, 0] - batch.y) ** 2).mean())
    assert out.count == 8
    torch.testing.assert_close(model.step_losses(model.rnn(batch.x)[0], batch)[:, -1].mean(), out.loss)
    torch.testing.assert_close(model.predict(batch.x), o[:, -1, 0])


def test_digits_loss_and_accuracy_at_the_last_pixel():
    model, batch = model_and_batch("digits")
    out = model.loss(batch)
    last = model(batch.x)[:, -1]                                                   # (B, 10)
    torch.testing.assert_close(out.loss, F.cross_entropy(last, batch.y))
    assert out.metrics["accuracy"] == (last.argmax(-1) == batch.y).float().mean().item()
    steps = model.step_losses(model.rnn(batch.x)[0], batch)                        # (B, 64)
    assert steps.shape == (8, 64)
    torch.testing.assert_close(steps[:, -1].mean(), out.loss)


def test_copy_accuracy_counts_only_the_copied_symbols():
    model, batch = model_and_batch("copy", 3, cell="lstm")
    with torch.no_grad():                                                          # always answer blank
        model.readout.weight.zero_()
        model.readout.bias.copy_(torch.arange(10.0).flip(0))
    out = model.loss(batch)
    assert out.metrics["accuracy"] == 0.0 and out.count == 8 * 23
    perfect = SequenceBatch(batch.x, torch.zeros_like(batch.y))
    assert model.loss(perfect).metrics["accuracy"] == 0.0                          # nothing to copy: no credit
    steps = model.step_losses(model.rnn(batch.x)[0], batch)
    torch.testing.assert_close(steps.mean(), out.loss)


def test_config_for_the_task_and_lstm_forget_bias():
    data = memory_task("copy", 5, test_size=4)
    config = config_for(data, "lstm", 7, layers=2)
    assert (config.input_size, config.num_outputs, config.target, config.layers) == (10, 10, "sequence", 2)
    assert config.cell_options == {"forget_bias": 1.0}
    assert config_for(data, "gru", 7).cell_options == {}
    assert MemoryModel(config).rnn.cell(1).forget_bias == 1.0


@pytest.mark.parametrize("fields, message", [
    ({"target": "ranking"}, "target: expected one of regression, class, sequence, got 'ranking'"),
    ({"num_outputs": 3}, "num_outputs: a regression has 1 output, got 3"),
    ({"cell": "rnn"}, "cell: expected one of srn, lstm, gru, got 'rnn'"),
    ({"hidden_size": 0}, "hidden_size: expected a positive integer, got 0"),
])
def test_bad_config(fields, message):
    base = {"input_size": 2, "num_outputs": 1, "target": "regression"}
    with pytest.raises(ValueError, match=message):
        MemoryModelConfig(**{**base, **fields})
    with pytest.raises(ValueError, match=r"config: unknown MemoryModelConfig fields \['depth'\]"):
        MemoryModelConfig.from_dict({**base, "depth": 3})


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                             # two spinning threads on a shared CPU cost more
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_lstm_learns_the_adding_problem_at_lag_50(one_thread):
    from rnnkit.train import TrainConfig, Trainer

    data = memory_task("adding", 50, batch_size=64, train_batches=100, test_size=500)
    model = MemoryModel(config_for(data, "lstm", 64))
    config = TrainConfig(lr=2e-3, clip_norm=1.0, epochs=25, progress=False)
    trainer = Trainer(model, config)
    trainer.fit(data.train, val_data=data.test)           # the benchmark's run solved it (< 0.01) in 1,300 steps
    assert trainer.best_val_loss < 0.02
