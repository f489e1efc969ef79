"""Exploding-gradient detection: spikes against the running median, NaN/Inf, and the report."""
import pytest

from rnnkit.diagnostics import SpikeDetector


def feed(detector, norms, losses=None):
    return [detector.update(step, norm, None if losses is None else losses[step])
            for step, norm in enumerate(norms)]


def test_a_spike_is_reported_against_the_running_median():
    detector = SpikeDetector(factor=10.0, window=20, warmup=5)
    norms = [1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 25.0, 1.0, 9.0]
    events = feed(detector, norms)
    assert [e is not None for e in events] == [False] * 6 + [True, False, False]
    spike = events[6]
    assert (spike.step, spike.kind, spike.grad_norm) == (6, "spike", 25.0)
    assert spike.median == pytest.approx(1.025)
    assert "step 6: gradient norm 25 = 24.4x the running median 1.02" in spike.describe()


def test_no_spike_before_warmup_and_none_in_steady_growth():
    detector = SpikeDetector(factor=10.0, window=10, warmup=5)
    assert all(e is None for e in feed(detector, [1.0, 50.0, 1.0, 2.0]))
    steady = SpikeDetector(factor=4.0, window=5, warmup=5)                       # median lags 1.5^3 behind
    assert all(e is None for e in feed(steady, [1.5 ** k for k in range(30)]))


def test_nan_and_inf_are_non_finite_events_and_stay_out_of_the_median():
    detector = SpikeDetector(warmup=2)
    events = feed(detector, [1.0, 1.0, float("nan"), 1.0, float("inf"), 1.0], losses=[2.0] * 6)
    kinds = [e.kind if e else None for e in events]
    assert kinds == [None, None, "non-finite", None, "non-finite", None]
    assert list(detector.recent) == [1.0, 1.0, 1.0, 1.0]
    assert detector.update(6, 1.0, float("nan")).kind == "non-finite"              # a NaN loss too


def test_report_says_what_happened_and_what_to_do():
    quiet = SpikeDetector()
    feed(quiet, [1.0] * 30)
    assert quiet.report() == "gradients: no spikes above 10x the running median and no NaN/Inf in 30 steps"
    detector = SpikeDetector(warmup=3)
    feed(detector, [1.0, 1.0, 1.0, 100.0, 1.0, 300.0, float("nan"), float("nan")])
    report = detector.report()
    assert report.startswith("gradients: 2 spikes above 10x the running median and 2 non-finite steps in 8 steps")
    assert "first non-finite gradient at step 6" in report
    assert "largest spike: step 5: gradient norm 300 = 300.0x the running median 1" in report
    assert "clip_norm" in report


@pytest.mark.parametrize("options, message", [
    ({"factor": 1.0}, "factor: expected a number > 1, got 1.0"),
    ({"window": 0}, "window: expected a positive integer, got 0"),
    ({"window": 5, "warmup": 6}, r"warmup: expected an integer in \[1, window=5\], got 6"),
])
def test_bad_settings(options, message):
    with pytest.raises(ValueError, match=message):
        SpikeDetector(**options)
