"""The Trainer callback: gradient-flow records during training and exploding-gradient events."""
import pytest
import torch

from rnnkit.data.synthetic import SequenceBatch, memory_task
from rnnkit.diagnostics import GradientFlowMonitor, SpikeDetector
from rnnkit.tasks.memory import MemoryModel, config_for
from rnnkit.train import TrainConfig, Trainer


def setup(lag=12):
    data = memory_task("adding", lag, batch_size=16, train_batches=5, test_size=8)
    model = MemoryModel(config_for(data, "gru", 6))
    return data, model, SequenceBatch(data.test.x, data.test.y)


def test_records_every_n_steps_and_writes_its_files(tmp_path):
    data, model, probe = setup()
    monitor = GradientFlowMonitor(probe, every=2)
    trainer = Trainer(model, TrainConfig(max_steps=5, progress=False, clip_norm=float("inf")),
                      run_dir=tmp_path, callbacks=[monitor])
    trainer.fit(data.train)
    assert [r.step for r in monitor.records] == [0, 2, 4, 5]
    assert monitor.records[0].relative_by_lag.shape == (1, 12)
    assert [s.block for s in monitor.records[-1].spectra] == ["W_hr", "W_hz", "W_hn"]
    assert monitor.detector.steps == 5                                             # one norm per optimizer step
    text = (tmp_path / "diagnostics" / "gradient_flow.txt").read_text()
    assert "no spikes" in text and (tmp_path / "diagnostics" / "gradient_flow_training.png").is_file()


def test_an_exploding_learning_rate_is_reported():
    torch.manual_seed(1)
    data, model, probe = setup()
    monitor = GradientFlowMonitor(probe, every=100, detector=SpikeDetector(factor=3.0, window=10, warmup=2))
    trainer = Trainer(model, TrainConfig(optimizer="sgd", lr=40.0, momentum=0.0, max_steps=25, progress=False,
                                         clip_norm=float("inf")), callbacks=[monitor])
    try:
        trainer.fit(data.train)
    except FloatingPointError:                                                     # the loss itself went NaN
        pass
    assert monitor.detector.events, monitor.report()
    assert "spikes above 3x the running median" in monitor.detector.report()


def test_needs_the_logged_gradient_norm():
    data, model, probe = setup()
    trainer = Trainer(model, TrainConfig(max_steps=1, progress=False, clip_norm=None),
                      callbacks=[GradientFlowMonitor(probe)])
    with pytest.raises(ValueError, match=r"clip_norm: GradientFlowMonitor reads the gradient norm"):
        trainer.fit(data.train)
