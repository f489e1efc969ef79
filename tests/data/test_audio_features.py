"""Audio features against independent oracles: mel filters written from the documented formulas (HTK, and
librosa's Slaney scale and area norm), scipy's Fourier resampling and DCT, a hand-computed DFT frame;
and invariants: batching, normalisation, SpecAugment's masks."""
import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from rnnkit.data.audio import (AudioFeatures, FeatureConfig, dct_matrix, hz_to_mel, mel_filterbank, mel_to_hz,
                               normalize_utterances, resample, spec_augment)


# ---------------------------------------------------------------------------------------------- the oracle
def oracle_hz_to_mel(f: float, htk: bool) -> float:
    """HTK (Young et al., the HTK Book): 2595 log10(1 + f/700). Slaney (Auditory Toolbox, librosa's
    default): f / (200/3) below 1 kHz, then 15 + log(f / 1000) / (log(6.4) / 27)."""
    if htk:
        return 2595.0 * math.log10(1.0 + f / 700.0)
    return f / (200.0 / 3.0) if f < 1000.0 else 15.0 + math.log(f / 1000.0) / (math.log(6.4) / 27.0)


def oracle_mel_to_hz(m: float, htk: bool) -> float:
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return m * 200.0 / 3.0 if m < 15.0 else 1000.0 * math.exp((m - 15.0) * math.log(6.4) / 27.0)


def oracle_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, area: bool) -> np.ndarray:
    """librosa.filters.mel's definition, one weight at a time: filter i is a triangle over the mel-spaced
    points i, i+1, i+2; with area norm scaled by 2 / (f_{i+2} - f_i)."""
    lo, hi = oracle_hz_to_mel(fmin, htk), oracle_hz_to_mel(fmax, htk)
    points = [oracle_mel_to_hz(lo + (hi - lo) * k / (n_mels + 1), htk) for k in range(n_mels + 2)]
    weights = np.zeros((n_fft // 2 + 1, n_mels))
    for k in range(n_fft // 2 + 1):
        f = k * sr / n_fft
        for i in range(n_mels):
            left, centre, right = points[i], points[i + 1], points[i + 2]
            if left < f <= centre:
                weights[k, i] = (f - left) / (centre - left)
            elif centre < f < right:
                weights[k, i] = (right - f) / (right - centre)
            if area:
                weights[k, i] *= 2.0 / (right - left)
    return weights


def test_mel_scales_at_hand_worked_points():
    f = torch.tensor([0.0, 700.0, 1000.0, 6400.0], dtype=torch.float64)
    np.testing.assert_allclose(hz_to_mel(f, "htk"), [0.0, 2595 * math.log10(2), 1000.0 * 0.99999, 2595 * math.log10(1 + 6400 / 700)],
                               rtol=1e-4)
    np.testing.assert_allclose(hz_to_mel(f, "slaney"), [0.0, 10.5, 15.0, 42.0], rtol=1e-12)   # ln 6.4 / (ln 6.4 / 27) = 27
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-9)


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [(8000, 256, 40, 20.0, None), (16000, 512, 64, 0.0, 7600.0),
                                                           (22050, 1024, 80, 0.0, None)])
@pytest.mark.parametrize("scale, norm", [("htk", None), ("slaney", "slaney"), ("htk", "slaney"), ("slaney", None)])
def test_mel_filterbank_equals_the_documented_formula(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    ours = mel_filterbank(n_fft // 2 + 1, sr, n_mels, fmin, fmax, scale, norm).numpy()
    expected = oracle_filters(sr, n_fft, n_mels, fmin, sr / 2 if fmax is None else fmax, scale == "htk", norm == "slaney")
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_dct_is_scipy_orthonormal_dct_ii():
    x = np.random.default_rng(0).standard_normal((5, 26))
    np.testing.assert_allclose(x @ dct_matrix(26, 13).numpy(), scipy.fft.dct(x, type=2, norm="ortho")[:, :13], atol=1e-12)


@pytest.mark.parametrize("n, rate, new_rate", [(1000, 16000, 8000), (999, 8000, 16000), (1234, 44100, 8000),
                                               (800, 8000, 11025)])
def test_resample_equals_scipy_fourier_method(n, rate, new_rate):
    x = np.random.default_rng(1).standard_normal(n)
    ours = resample(torch.from_numpy(x), rate, new_rate).numpy()
    np.testing.assert_allclose(ours, scipy.signal.resample(x, len(ours)), atol=1e-9)


def test_resample_keeps_a_tone_and_removes_what_the_new_rate_cannot_hold():
    t = np.arange(16000) / 16000
    low = resample(torch.tensor(np.sin(2 * np.pi * 440 * t)), 16000, 8000).numpy()
    np.testing.assert_allclose(low, np.sin(2 * np.pi * 440 * np.arange(8000) / 8000), atol=1e-9)
    high = resample(torch.tensor(np.sin(2 * np.pi * 6000 * t)), 16000, 8000).numpy()
    assert np.abs(high).max() < 1e-9                                               # no alias at 2 kHz


def test_a_power_frame_is_the_hann_windowed_dft():
    config = FeatureConfig(8000, n_fft=64, hop_length=16, n_mels=8, normalize="none")
    features = AudioFeatures(config)
    x = torch.randn(300, dtype=torch.float64)
    t = 5                                                                          # frame t centres sample t*H
    segment = np.pad(x.numpy(), 32)[t * 16:t * 16 + 64]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)                   # periodic Hann
    power = np.abs(np.fft.rfft(segment * window)) ** 2
    expected = np.log(np.maximum(power @ features.mel.double().numpy(), 1e-10))
    ours, frames = features.log_mel(x[None].float(), torch.tensor([300]))
    assert ours.shape == (1, 1 + 300 // 16, 8) and frames.tolist() == [1 + 300 // 16]
    np.testing.assert_allclose(ours[0, t].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_a_tone_peaks_in_the_channel_around_its_frequency():
    features = AudioFeatures(FeatureConfig(8000, n_mels=40, normalize="none"))
    wave = torch.sin(2 * math.pi * 1000 * torch.arange(4000) / 8000)
    channel = int(features.log_mel(wave[None], torch.tensor([4000]))[0][0, 10].argmax())
    assert features.mel[round(1000 * 256 / 8000), channel] == features.mel[round(1000 * 256 / 8000)].max()


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(n_mfcc=13), FeatureConfig(normalize="none")])
def test_a_batch_gives_each_row_its_own_frames(config):
    features = AudioFeatures(config)
    waves = [torch.randn(n) * 0.1 for n in (1600, 2345, 800)]
    batch = torch.zeros(3, 2345)
    for b, w in enumerate(waves):
        batch[b, :len(w)] = w
    x, frames = features(batch, torch.tensor([len(w) for w in waves]))
    for b, w in enumerate(waves):
        alone, n = features(w[None], torch.tensor([len(w)]))
        torch.testing.assert_close(x[b, :int(n[0])], alone[0], atol=1e-4, rtol=1e-4)
        assert frames[b] == n[0] and bool((x[b, int(n[0]):] == 0).all())


def test_utterance_normalisation_gives_zero_mean_unit_variance_over_valid_frames():
    x = torch.randn(2, 7, 3) * 5 + 2
    lengths = torch.tensor([7, 4])
    y = normalize_utterances(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[b, :n].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(y[b, :n].std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert bool((y[1, 4:] == 0).all())


def test_global_statistics_standardise_the_data_they_were_measured_on():
    features = AudioFeatures(FeatureConfig(n_mfcc=13, normalize="global"))
    batches = [(torch.randn(2, 3000) * s, torch.tensor([3000, 2000])) for s in (0.1, 1.0)]
    features.set_statistics(batches)
    frames = torch.cat([features(w, n)[0][b, :int(features(w, n)[1][b])] for w, n in batches for b in range(2)])
    torch.testing.assert_close(frames.mean(0), torch.zeros(13), atol=1e-3, rtol=0)
    torch.testing.assert_close(frames.std(0, unbiased=False), torch.ones(13), atol=1e-3, rtol=0)


def test_spec_augment_zeroes_bands_and_runs_within_their_widths():
    x = torch.randn(4, 50, 20) + 10.0                                              # no value is 0 by chance
    lengths = torch.tensor([50, 40, 30, 20])
    y = spec_augment(x, lengths, freq_masks=1, freq_width=5, time_masks=1, time_width=8)
    kept = y != 0
    assert bool((y[kept] == x[kept]).all())
    for b, n in enumerate(lengths.tolist()):
        bands = (~kept[b]).all(0)                                                  # channels zero at every frame
        runs = (~kept[b]).all(1)                                                   # frames zero in every channel
        assert int(bands.sum()) <= 5 and int(runs.sum()) <= min(8, int(0.2 * n))
        if bands.any():
            idx = bands.nonzero().flatten()
            assert int(idx[-1] - idx[0]) + 1 == len(idx)                           # one contiguous band
    assert torch.equal(spec_augment(x, lengths, 0, 5, 0, 8), x)


def test_feature_config_refuses_bad_values():
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureConfig(n_mels=10, n_mfcc=20)
    with pytest.raises(ValueError, match="f_min, f_max"):
        FeatureConfig(sample_rate=8000, f_max=5000.0)
    with pytest.raises(ValueError, match="mel_scale"):
        FeatureConfig(mel_scale="bark")
