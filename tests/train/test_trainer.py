"""Trainer.fit / evaluate: callbacks, stopping rules, carried state, logs, reproducibility."""
import csv
import dataclasses
import time

import pytest
import torch

import rnnkit
from rnnkit.kernels import fused
from rnnkit.nn.losses import LossOutput
from rnnkit.train import Callback, TrainConfig, Trainer
from rnnkit.train.callbacks import HOOKS
from rnnkit.train.tree import to_device
from tiny_tasks import Regression, TinyLM, TinyLMConfig, lm_streams, regression_batches

QUIET = {"progress": False}


class Recorder(Callback):
    """Records every hook call as (hook, logs)."""

    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name in HOOKS:
            return lambda trainer, logs: object.__getattribute__(self, "calls").append((name, dict(logs)))
        return object.__getattribute__(self, name)


for _hook in HOOKS:   # make the overrides visible to CallbackList (it skips hooks a class does not override)
    setattr(Recorder, _hook, lambda self, trainer, logs: None)


def test_callback_order_and_logs():
    recorder = Recorder()
    trainer = Trainer(Regression(), TrainConfig(epochs=2, accumulate=2, **QUIET), callbacks=[recorder])
    history = trainer.fit(regression_batches(3), val_data=regression_batches(2, seed=1))
    names = [name for name, _ in recorder.calls]
    epoch = ["on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 3 + \
        ["on_test_begin", "on_test_end", "on_epoch_end"]
    assert names == ["on_train_begin", *epoch, *epoch, "on_train_end"]
    batch_ends = [logs for name, logs in recorder.calls if name == "on_train_batch_end"]
    assert [(logs["batch"], logs["step"], "lr" in logs) for logs in batch_ends[:3]] == \
        [(0, 0, False), (1, 1, True), (2, 1, False)]             # the third batch's step ends the epoch
    assert trainer.step == 4 and trainer.epoch == 2
    epoch_logs = [logs for name, logs in recorder.calls if name == "on_epoch_end"]
    assert [logs["epoch"] for logs in epoch_logs] == [0, 1] and all("val_loss" in logs for logs in epoch_logs)
    assert history is trainer.history and history.history["val_loss"] == [logs["val_loss"] for logs in epoch_logs]
    assert recorder.calls[-1][1]["stopped"] == "epochs"


def test_epoch_loss_is_the_mean_over_units():
    batches = [(torch.ones(n, 3), torch.zeros(n)) for n in (1, 3)]
    model = Regression()
    with torch.no_grad():
        model.linear.weight.fill_(0.0)
        model.linear.bias.fill_(2.0)
    trainer = Trainer(model, TrainConfig(optimizer="sgd", lr=1e-9, **QUIET))
    assert trainer.evaluate(batches)["loss"] == pytest.approx(4.0)
    history = trainer.fit(batches, val_data=[(torch.ones(2, 3), torch.ones(2))])
    assert history.history["loss"] == pytest.approx([4.0], rel=1e-6)
    assert history.history["val_loss"] == pytest.approx([1.0], rel=1e-6)


def test_evaluate_weights_batches_by_count_and_averages_metrics():
    model = TinyLM()
    train, val = lm_streams(batch_size=3, seq_len=8)
    results = Trainer(model, TrainConfig(**QUIET)).evaluate(val)
    total, units, correct, state = 0.0, 0, 0.0, None
    with torch.no_grad():
        for batch in val:
            out = model.loss(batch, state)
            total += float(out.loss) * out.count
            correct += out.metrics["accuracy"] * out.count
            units += out.count
            state = out.state
    assert results == pytest.approx({"loss": total / units, "accuracy": correct / units})
    assert val.row_len % 8 != 0        # the short last chunk is weighted by its own count


def test_early_stopping_after_patience_validations_without_improvement():
    train = regression_batches(8)
    val = [(x, -y) for x, y in regression_batches(2, seed=1)]        # learning the training data hurts here
    trainer = Trainer(Regression(), TrainConfig(optimizer="sgd", lr=0.1, eval_every=1, early_stopping_patience=2,
                                                epochs=5, **QUIET))
    history = trainer.fit(train, val)
    assert trainer.step == 3                   # step 1 sets the best, steps 2 and 3 do not improve
    assert history.history["epoch"] == [0]     # the interrupted epoch still ends with on_epoch_end


class Scripted(Regression):
    """A regression whose validations report scripted losses and accuracies, one pair per validation."""

    def __init__(self, script):
        super().__init__()
        self.script, self.validations = script, 0

    def loss(self, batch, state=None) -> LossOutput:
        out = super().loss(batch, state)
        if torch.is_grad_enabled():
            return out
        loss, accuracy = self.script[min(self.validations, len(self.script) - 1)]
        return LossOutput(torch.tensor(loss), out.count, metrics={"accuracy": accuracy})


class CountValidations(Callback):
    def on_test_end(self, trainer, logs):
        trainer.model.validations += 1


# dev loss best at the 1st validation, dev accuracy rising until the 4th
SCRIPT = [(1.0, 0.5), (1.1, 0.6), (1.2, 0.7), (1.3, 0.8), (1.4, 0.8), (1.5, 0.7), (1.6, 0.8)]


@pytest.mark.parametrize("metric,stops_at", [("loss", 3), ("accuracy", 6)])
def test_early_stopping_watches_the_chosen_metric(metric, stops_at):
    """Patience 2 on the loss stops after validation 3 (two without a lower loss than the 1st's); on the
    accuracy it runs until two validations bring no higher accuracy than the 4th's (ties do not count)."""
    model = Scripted(SCRIPT)
    trainer = Trainer(model, TrainConfig(eval_every=1, early_stopping_patience=2, early_stopping_metric=metric,
                                         epochs=20, **QUIET), callbacks=[CountValidations()])
    trainer.fit(regression_batches(8), regression_batches(1, seed=1))
    assert (model.validations, trainer.step) == (stops_at, stops_at)
    assert trainer.best_val_loss == pytest.approx(1.0)        # the loss's best is kept whatever is watched


def test_early_stopping_on_a_metric_the_model_does_not_report_is_refused():
    trainer = Trainer(Regression(), TrainConfig(eval_every=1, early_stopping_patience=2,
                                                early_stopping_metric="accuracy", **QUIET))
    with pytest.raises(ValueError, match="early_stopping_metric: the model's validation reports no 'accuracy' "
                                         r"\(it reports loss\)"):
        trainer.fit(regression_batches(2), regression_batches(1, seed=1))
    with pytest.raises(ValueError, match="early_stopping_metric: expected one of loss, accuracy, got 'f1'"):
        TrainConfig(early_stopping_metric="f1")


def test_max_steps_stops_mid_epoch():
    trainer = Trainer(Regression(), TrainConfig(max_steps=5, epochs=10, **QUIET))
    trainer.fit(regression_batches(4))
    assert (trainer.step, trainer.epoch) == (5, 1)


class Slow(Callback):
    def on_train_batch_end(self, trainer, logs):
        time.sleep(0.05)


def test_max_time_stops_at_a_step_boundary():
    recorder = Recorder()
    trainer = Trainer(Regression(), TrainConfig(max_time=0.3, epochs=1000, **QUIET), callbacks=[Slow(), recorder])
    started = time.perf_counter()
    trainer.fit(regression_batches(4))
    assert recorder.calls[-1][1]["stopped"] == "max_time"
    assert 6 <= trainer.step < 40 and time.perf_counter() - started < 10


class StopAt(Callback):
    def on_train_batch_end(self, trainer, logs):
        if trainer.step == 3:
            trainer.stop_training = True


def test_a_callback_stops_training():
    trainer = Trainer(Regression(), TrainConfig(epochs=10, **QUIET), callbacks=[StopAt()])
    trainer.fit(regression_batches(4))
    assert trainer.step == 3


class StateSpy(TinyLM):
    """Records the state passed into every loss call and the state it returned."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def loss(self, batch, state=None):
        out = super().loss(batch, state)
        self.calls.append((self.training, state, out.state))
        return out


def test_state_is_carried_detached_and_reset_at_epochs_and_evaluation():
    model = StateSpy()
    train, val = lm_streams(batch_size=2, seq_len=10, n=200)
    Trainer(model, TrainConfig(epochs=2, **QUIET)).fit(train, val)
    per_epoch = len(train) + len(val)
    assert len(model.calls) == 2 * per_epoch
    for epoch in range(2):
        calls = model.calls[epoch * per_epoch:(epoch + 1) * per_epoch]
        training, evaluation = calls[:len(train)], calls[len(train):]
        assert training[0][1] is None and evaluation[0][1] is None
        assert all(c[0] for c in training) and not any(c[0] for c in evaluation)
        for (_, _, returned), (_, passed, _) in zip(training, training[1:]):
            assert returned.h.requires_grad and not passed.h.requires_grad and not passed.c.requires_grad
            assert torch.equal(passed.h, returned.h.detach()) and torch.equal(passed.c, returned.c.detach())


def test_independent_batches_get_no_state():
    model = StateSpy()
    train, _ = lm_streams(batch_size=2, seq_len=10, n=100)
    Trainer(model, TrainConfig(**QUIET)).fit(list(train))       # a list has no carry_state
    assert all(passed is None for _, passed, _ in model.calls)


def run_losses(seed, config=TinyLMConfig(dropout=0.3)):
    class Losses(Callback):
        def __init__(self):
            self.values = []

        def on_train_batch_end(self, trainer, logs):
            self.values.append(logs["loss"])

    torch.manual_seed(0)
    losses = Losses()
    train, val = lm_streams(n=400)
    Trainer(TinyLM(config), TrainConfig(seed=seed, epochs=2, **QUIET), callbacks=[losses]).fit(train, val)
    return losses.values


def test_seeded_runs_are_reproducible():
    first = run_losses(seed=3)
    assert run_losses(seed=3) == first
    assert run_losses(seed=4) != first


def test_logs_csv_png_and_tensorboard(tmp_path):
    train, val = lm_streams(n=600)
    trainer = Trainer(TinyLM(), TrainConfig(epochs=2, log_every=5, eval_every=6, **QUIET), run_dir=tmp_path)
    trainer.fit(train, val)
    with open(tmp_path / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["step", "epoch", "loss", "val_loss", "val_accuracy", "lr", "units_per_s", "elapsed"]
    epoch_ends = {len(train), 2 * len(train)}                 # every epoch ends with a row of its training loss
    assert [int(r["step"]) for r in rows if r["loss"]] == sorted({*range(5, trainer.step + 1, 5), *epoch_ends})
    assert [int(r["step"]) for r in rows if r["val_loss"]] == list(range(6, trainer.step + 1, 6))
    assert [int(r["step"]) for r in rows if r["val_accuracy"]] == list(range(6, trainer.step + 1, 6))  # TinyLM's
    last = [r for r in rows if r["val_loss"]][-1]
    assert {"loss": float(last["val_loss"]), "accuracy": float(last["val_accuracy"])} == \
        pytest.approx(trainer.evaluate(val), rel=1e-6)
    assert all(float(r["units_per_s"]) > 0 for r in rows if r["loss"])
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pytest.importorskip("torch.utils.tensorboard")
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_scripted_dev_accuracies_reach_the_log_and_the_console(tmp_path, capsys):
    config = TrainConfig(eval_every=1, epochs=3, log_every=1, progress=True)
    Trainer(Scripted(SCRIPT), config, run_dir=tmp_path, callbacks=[CountValidations()]).fit(
        regression_batches(1), regression_batches(1, seed=1))
    with open(tmp_path / "log.csv", newline="") as handle:
        logged = [(float(r["val_loss"]), float(r["val_accuracy"])) for r in csv.DictReader(handle)]
    assert [value for pair in logged for value in pair] == pytest.approx([v for pair in SCRIPT[:3] for v in pair])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split("val_accuracy ")[1].split()[0] for line in lines] == ["0.5000", "0.6000", "0.7000"]


def test_a_log_from_before_the_accuracy_column_is_kept_on_resume(tmp_path):
    from rnnkit.train.runlog import RunLog

    (tmp_path / "log.csv").write_text("step,epoch,loss,val_loss,lr,units_per_s,elapsed\n"
                                      "1,0,2.5,2.0,0.1,10.0,0.5\n2,0,2.4,,0.1,10.0,1.0\n", encoding="utf-8")
    log = RunLog(tmp_path, console=False, total_steps=None, start_step=2)
    log.row(step=3, epoch=0, val_loss=1.5, val_accuracy=0.25, lr=0.1, elapsed=1.5)
    log.close()
    assert (tmp_path / "log.csv").read_text(encoding="utf-8").splitlines() == [
        "step,epoch,loss,val_loss,val_accuracy,lr,units_per_s,elapsed",
        "1,0,2.5,2.0,,0.1,10.0,0.5", "2,0,2.4,,,0.1,10.0,1.0", "3,0,,1.5,0.25,0.1,,1.5"]


def test_console_lines_when_not_a_terminal(capsys):
    Trainer(Regression(), TrainConfig(log_every=2, progress=True)).fit(regression_batches(4))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("step 2  epoch 0  loss ") and err[1].startswith("step 4 ")
    assert err[-1] == "training stopped (epochs) at step 4, epoch 1"


def test_a_second_fit_starts_a_new_run():
    trainer = Trainer(Regression(), TrainConfig(epochs=1, **QUIET))
    trainer.fit(regression_batches(3))
    trainer.fit(regression_batches(2))
    assert (trainer.step, trainer.epoch, len(trainer.history.history["loss"])) == (2, 1, 1)


def _bf16_lstm_output_dtype(layer, x):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return layer(x)[0].dtype


def test_bf16_autocast_on_cpu():
    """bf16 on CPUs whose oneDNN has bf16 RNN kernels, the documented float32 fallback on the others."""
    supported = fused.cpu_bf16_supported()
    assert _bf16_lstm_output_dtype(rnnkit.LSTM(4, 5), torch.randn(2, 6, 4)) == \
        (torch.bfloat16 if supported else torch.float32)
    train, _ = lm_streams(n=300)
    history = Trainer(TinyLM(), TrainConfig(precision="bf16", **QUIET)).fit(train)
    assert torch.isfinite(torch.tensor(history.history["loss"])).all()


@pytest.mark.parametrize("layer_class", [rnnkit.LSTM, rnnkit.GRU, rnnkit.SimpleRNN])
def test_bf16_without_cpu_support_runs_the_fused_op_in_float32(monkeypatch, layer_class):
    """Forces the unsupported-CPU path (any machine): the fused op runs in float32, exactly as without
    autocast, lengths included; the rest of a model keeps bf16 and training runs."""
    monkeypatch.setattr(fused, "cpu_bf16_supported", lambda: False)
    torch.manual_seed(0)
    layer = layer_class(4, 5, num_layers=2, bidirectional=True)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = layer(x, lengths=lengths)
    expected, expected_state = layer(x, lengths=lengths)
    assert y.dtype == torch.float32 and torch.equal(y, expected)
    assert all(torch.equal(a, b) for a, b in zip(torch.utils._pytree.tree_leaves(state),
                                                 torch.utils._pytree.tree_leaves(expected_state)))
    train, _ = lm_streams(n=300)
    history = Trainer(TinyLM(), TrainConfig(precision="bf16", **QUIET)).fit(train)
    assert torch.isfinite(torch.tensor(history.history["loss"])).all()


def test_nested_batches_move_to_the_device():
    @dataclasses.dataclass
    class Pair:
        a: torch.Tensor
        rest: dict

    moved = to_device(Pair(torch.zeros(1), {"b": [torch.ones(2), (torch.ones(1), 3)]}), torch.device("meta"))
    assert moved.a.device.type == "meta" and moved.rest["b"][1][0].device.type == "meta"
    assert moved.rest["b"][1][1] == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"optimizer": "lbfgs"}, "optimizer: expected one of adam, adamw, sgd, rmsprop, adagrad, nt-asgd, got 'lbfgs'"),
    ({"lr": 0}, "lr: expected a positive number, got 0"),
    ({"accumulate": 0}, "accumulate: expected an integer >= 1, got 0"),
    ({"max_steps": 2.5}, "max_steps: expected an integer >= 1, got 2.5"),
    ({"precision": "fp8"}, "precision: expected one of fp32, bf16, fp16"),
])
def test_config_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_fp16_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="precision: 'fp16' needs a CUDA device"):
        Trainer(Regression(), TrainConfig(precision="fp16"))


class Broken(Regression):
    def __init__(self, result):
        super().__init__()
        self.result = result

    def loss(self, batch, state=None):
        return self.result(super().loss(batch))


@pytest.mark.parametrize("result, error, message", [
    (lambda out: out.loss, ValueError, "model.loss: expected a LossOutput with a scalar tensor loss, got Tensor"),
    (lambda out: LossOutput(out.loss, 0), ValueError, "LossOutput.count to be a positive int, got 0"),
    (lambda out: LossOutput(out.loss * float("nan"), 4), FloatingPointError, "model.loss: the loss is nan at step 0"),
])
def test_bad_loss_outputs(result, error, message):
    with pytest.raises(error, match=message):
        Trainer(Broken(result), TrainConfig(**QUIET)).fit(regression_batches(2))


def test_a_model_without_loss_is_rejected():
    with pytest.raises(ValueError, match="model: expected an nn.Module with a loss"):
        Trainer(torch.nn.Linear(2, 2), TrainConfig())


def test_rich_progress_bar_when_forced(capsys, monkeypatch):
    monkeypatch.setenv("RNNKIT_PROGRESS", "1")
    Trainer(Regression(), TrainConfig(epochs=3, log_every=100)).fit(regression_batches(4))
    err = capsys.readouterr().err
    assert "12/12" in err and "units/s" in err and "loss" in err and "ETA" in err
    assert "training stopped (epochs) at step 12, epoch 3" in err


def test_validation_driven_options_need_validation_data():
    with pytest.raises(ValueError, match="val_data: early_stopping_patience and the 'plateau' schedule"):
        Trainer(Regression(), TrainConfig(early_stopping_patience=2, **QUIET)).fit(regression_batches(2))
