"""NT-ASGD: the non-monotone trigger on hand-made losses, the average of the iterates since the trigger,
evaluation on the average, and a stopped-and-resumed run ending bitwise where the uninterrupted one ends."""
import pytest
import torch

from rnnkit.train import Callback, TrainConfig, Trainer
from rnnkit.train.averaging import IterateAverage, triggers
from tiny_tasks import Regression, StopAt, regression_batches

# v_k for k = 0..7; with n = 2 validation k triggers when k > 2 and v_k > min(v_0 .. v_{k-3}):
#   k=3: 3.5 > min(5)=5? no   k=4: 3.2 > min(5, 4)=4? no   k=5: 2.9 > min(5, 4, 3)=3? no
#   k=6: 3.1 > min(5, 4, 3, 3.5)=3? yes  (a "no new best for 2 checks" rule would have fired at k=4)
LOSSES = [5.0, 4.0, 3.0, 3.5, 3.2, 2.9, 3.1, 3.05]
CONFIG = TrainConfig(optimizer="nt-asgd", lr=0.2, nt_asgd_patience=1, eval_every=1, epochs=4, clip_norm=None,
                     progress=False)


def test_the_trigger_fires_when_the_rule_says():
    assert [triggers(LOSSES[:k + 1], 2) for k in range(len(LOSSES))] == [False] * 6 + [True, True]
    average = IterateAverage([torch.nn.Parameter(torch.zeros(2))], patience=2)
    for k, loss in enumerate(LOSSES):
        average.observe(loss, step=10 * k)
    assert average.start == 60 and average.losses == LOSSES[:7]     # nothing recorded after the trigger
    assert triggers([1.0, 2.0], 0) and not triggers([2.0, 1.0], 0)  # n = 0: worse than the best so far


def test_the_average_is_the_mean_of_the_iterates_since_the_trigger():
    w = torch.nn.Parameter(torch.randn(3, 2))
    average = IterateAverage([w], patience=0)
    average.update()                                                # before the trigger: nothing
    average.observe(1.0, step=4)
    average.observe(2.0, step=5)
    assert average.start == 5 and average.count == 0
    iterates = []
    for _ in range(5):
        with torch.no_grad():
            w.add_(torch.randn(3, 2))
        iterates.append(w.detach().clone())
        average.update()
    torch.testing.assert_close(average.average[0], torch.stack(iterates).mean(0), rtol=0, atol=1e-6)
    before = w.detach().clone()
    with average.swapped():
        assert torch.equal(w, average.average[0])
    assert torch.equal(w, before)


class AtValidation(Callback):
    """The weights the model holds, and NT-ASGD's average, at every validation after the trigger."""

    def __init__(self):
        self.seen = []

    def on_test_end(self, trainer, logs):
        average = trainer.updater.average
        if average.count:
            self.seen.append(([p.detach().clone() for p in trainer.model.parameters()],
                              [a.clone() for a in average.average]))


def train(run_dir=None, callbacks=(), resume=False, seed=0):
    torch.manual_seed(seed)                            # a resumed run's fresh init is overwritten by the checkpoint
    trainer = Trainer(Regression(), CONFIG, run_dir=run_dir, callbacks=list(callbacks))
    trainer.fit(regression_batches(8), regression_batches(4, seed=1), resume=resume)
    return trainer


def test_validation_runs_on_the_average_and_sgd_continues_from_the_iterate():
    watch = AtValidation()
    trainer = train(callbacks=[watch])
    average = trainer.updater.average
    assert average.start == 13 and average.count == trainer.step - 13            # hand-checked losses, see above
    assert len(watch.seen) == average.count
    assert all(all(torch.equal(p, a) for p, a in zip(held, mean)) for held, mean in watch.seen)
    assert not torch.equal(next(trainer.model.parameters()), average.average[0])  # the iterate, not the average
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.0
    with pytest.raises(ValueError, match="^val_data: .*nt-asgd"):
        Trainer(Regression(), CONFIG).fit(regression_batches(8))


def test_stop_and_resume_mid_average_is_bitwise_the_uninterrupted_run(tmp_path):
    reference = train()
    stopped = train(tmp_path / "run", callbacks=[StopAt(20)])
    assert stopped.step == 20 and stopped.updater.average.count == 7                # stopped mid-average
    resumed = train(tmp_path / "run", resume=True, seed=1)
    assert resumed.step == reference.step
    for p, q in zip(resumed.model.parameters(), reference.model.parameters()):
        assert torch.equal(p, q)
    mine, theirs = resumed.updater.average, reference.updater.average
    assert (mine.start, mine.count, mine.losses) == (theirs.start, theirs.count, theirs.losses)
    assert all(torch.equal(a, b) for a, b in zip(mine.average, theirs.average))
