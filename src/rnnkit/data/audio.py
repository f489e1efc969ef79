r"""Audio features in torch: resampling, log-mel filterbanks, MFCCs, normalisation, SpecAugment.

Every frame of sound becomes one input vector x_t. For a batch of waveforms ``(B, N)``::

    S_t(k)  = |Σ_n w(n) x(tH + n - L/2) e^{-2πi kn/L}|²       power spectrum, Hann window w of L = n_fft
                                                               samples, hop H, k = 0 .. L/2  (torch.stft)
    m_t(j)  = Σ_k S_t(k) M(k, j)                               M: triangular mel filters  (K, J)
    x_t     = log(max(m_t, 1e-10))                             log-mel                    (B, T, J)
    c_t     = x_t D                                            MFCC: D the orthonormal DCT-II  (J, C)

Mel scales (``mel_scale``): HTK ``mel(f) = 2595 log10(1 + f / 700)``; Slaney linear below 1 kHz
``mel(f) = 3 f / 200``, logarithmic above ``mel(f) = 15 + 27 ln(f / 1000) / ln 6.4``. Filter j rises
linearly from the mel-spaced frequency f_j to f_{j+1} and falls to f_{j+2} (J + 2 points evenly
spaced in mel between f_min and f_max); ``mel_norm="slaney"`` scales it by 2 / (f_{j+2} - f_j),
so each filter has unit area.

Frames are centred and zero-padded (``T = 1 + N // H``), so a batch gives each row the frames it
would get alone. Normalisation: per utterance, each channel minus its mean over the valid frames,
divided by its standard deviation; or global, with a mean and deviation measured on the training
data. SpecAugment (Park et al. 2019) zeroes random bands of channels and runs of frames in training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

MEL_SCALES = ("htk", "slaney")
NORMALIZATIONS = ("utterance", "global", "none")
LOG_FLOOR = 1e-10


@dataclass(frozen=True)
class FeatureConfig:
    """How waveforms become frames; saved with the model.

    Attributes:
        sample_rate: Hz the model hears (recordings are resampled to it).
        n_fft: L, samples per window.  hop_length: H, samples between frames.
        n_mels: J mel channels.  n_mfcc: C cepstral coefficients (0: the log-mel channels themselves).
        f_min, f_max: the band the filters cover (f_max None: sample_rate / 2).
        mel_scale: ``htk`` or ``slaney``.  mel_norm: ``slaney`` (unit-area filters) or None (peak 1).
        normalize: ``utterance``, ``global`` or ``none``.
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 80
    n_mels: int = 40
    n_mfcc: int = 0
    f_min: float = 20.0
    f_max: float | None = None
    mel_scale: str = "htk"
    mel_norm: str | None = None
    normalize: str = "utterance"

    def __post_init__(self):
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if isinstance(self.n_mfcc, bool) or not isinstance(self.n_mfcc, int) or not 0 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc: expected an integer in [0, n_mels={self.n_mels}], got {self.n_mfcc!r}")
        top = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < top <= self.sample_rate / 2:
            raise ValueError(f"f_min, f_max: expected 0 <= f_min < f_max <= sample_rate / 2 = {self.sample_rate / 2}, "
                             f"got {self.f_min!r}, {self.f_max!r}")
        for name, choices in (("mel_scale", MEL_SCALES), ("mel_norm", ("slaney", None)),
                              ("normalize", NORMALIZATIONS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name}: expected one of {choices}, got {getattr(self, name)!r}")

    @property
    def size(self) -> int:
        """Features per frame: C, or J without MFCCs."""
        return self.n_mfcc or self.n_mels


def hz_to_mel(hz: torch.Tensor, scale: str = "htk") -> torch.Tensor:
    """Frequencies in Hz on the mel scale (module docstring)."""
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    linear = 3.0 * hz / 200.0
    log = 15.0 + torch.log(hz.clamp(min=1e-10) / 1000.0) * (27.0 / math.log(6.4))
    return torch.where(hz >= 1000.0, log, linear)


def mel_to_hz(mel: torch.Tensor, scale: str = "htk") -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`."""
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = 200.0 * mel / 3.0
    log = 1000.0 * torch.exp((mel - 15.0) * (math.log(6.4) / 27.0))
    return torch.where(mel >= 15.0, log, linear)


def mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   scale: str = "htk", norm: str | None = None) -> torch.Tensor:
    """The triangular mel filters ``M (K, J)`` over the K = n_fft / 2 + 1 bins of a power spectrum.

    Arguments:
        n_freqs: K.  sample_rate: Hz.  n_mels: J.  f_min, f_max: the band (f_max None: sample_rate / 2).
        scale: ``htk`` or ``slaney``.  norm: ``slaney`` for unit-area filters, None for peak 1.
    Returns:
        ``(K, J)`` float64: ``M(k, j)`` the weight of bin k (at ``k * sample_rate / n_fft`` Hz) in channel j.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    bins = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=torch.float64)                  # (K,)
    low, high = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64), scale)
    edges = mel_to_hz(torch.linspace(float(low), float(high), n_mels + 2, dtype=torch.float64), scale)  # (J+2,)
    widths = edges[1:] - edges[:-1]                                                           # (J+1,)
    rising = (bins[:, None] - edges[None, :-2]) / widths[None, :-1]                           # (K, J)
    falling = (edges[None, 2:] - bins[:, None]) / widths[None, 1:]                            # (K, J)
    filters = torch.minimum(rising, falling).clamp(min=0.0)                                   # (K, J)
    if norm == "slaney":
        filters = filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return filters


def dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """The orthonormal DCT-II ``D (J, C)``: ``c_i = Σ_j x_j D(j, i)``,
    ``D(j, i) = sqrt(2/J) cos(π i (j + 1/2) / J)``, column 0 scaled by ``1/sqrt(2)``."""
    j = torch.arange(n_mels, dtype=torch.float64)[:, None]                                   # (J, 1)
    i = torch.arange(n_mfcc, dtype=torch.float64)[None, :]                                   # (1, C)
    basis = math.sqrt(2.0 / n_mels) * torch.cos(math.pi * i * (j + 0.5) / n_mels)            # (J, C)
    return basis * torch.where(i == 0, math.sqrt(0.5), 1.0)


def resample(wave: torch.Tensor, rate: int, new_rate: int) -> torch.Tensor:
    """``wave (..., N)`` at ``rate`` Hz resampled to ``new_rate`` by the Fourier method: the spectrum is
    cut (or zero-extended) to the new length's bins and transformed back, an ideal low-pass at the
    lower Nyquist frequency (as ``scipy.signal.resample``). Returns ``(..., round(N new_rate / rate))``."""
    if rate == new_rate:
        return wave
    n = wave.shape[-1]
    m = max(1, round(n * new_rate / rate))
    spectrum = torch.fft.rfft(wave.double())                                                  # (..., N/2+1)
    kept = min(n, m)
    nyquist = kept // 2 + 1
    new = spectrum.new_zeros(*spectrum.shape[:-1], m // 2 + 1)                                # (..., M/2+1)
    new[..., :nyquist] = spectrum[..., :nyquist]
    if kept % 2 == 0 and n != m:                 # the shared Nyquist bin: folded in when cutting, split when extending
        new[..., kept // 2] *= 2.0 if m < n else 0.5
    return (torch.fft.irfft(new, n=m) * (m / n)).to(wave.dtype)                               # (..., M)


def frame_counts(lengths: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Frames of centred framing ``T = 1 + N // H`` for sample counts ``lengths (B,)``."""
    return lengths // hop_length + 1


def valid_frames(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``(B, T)`` True at the first ``lengths[b]`` frames of each row."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def normalize_utterances(x: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each channel of ``x (B, T, F)`` minus its mean over the row's valid frames, over their standard
    deviation (at least ``eps``); zero at padded frames."""
    mask = valid_frames(lengths, x.shape[1])[:, :, None].to(x.dtype)                          # (B, T, 1)
    n = lengths.to(x.dtype)[:, None, None]                                                    # (B, 1, 1)
    mean = (x * mask).sum(1, keepdim=True) / n                                                # (B, 1, F)
    var = (((x - mean) * mask) ** 2).sum(1, keepdim=True) / n                                 # (B, 1, F)
    return (x - mean) / var.sqrt().clamp(min=eps) * mask                                      # (B, T, F)


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, freq_masks: int, freq_width: int, time_masks: int,
                 time_width: int, max_time_share: float = 0.2) -> torch.Tensor:
    """SpecAugment's masks on normalised features ``x (B, T, F)`` (masked values become 0, the mean):
    per row, ``freq_masks`` bands of ``[0, freq_width]`` channels and ``time_masks`` runs of
    ``[0, min(time_width, max_time_share * length)]`` frames, drawn from torch's global generator."""
    batch, frames, channels = x.shape
    keep = torch.ones_like(x, dtype=torch.bool)                                               # (B, T, F)
    for b in range(batch):
        for _ in range(freq_masks):
            width = int(torch.randint(0, min(freq_width, channels) + 1, ()))
            start = int(torch.randint(0, channels - width + 1, ()))
            keep[b, :, start:start + width] = False
        length = int(lengths[b])
        for _ in range(time_masks):
            width = int(torch.randint(0, min(time_width, int(max_time_share * length)) + 1, ()))
            start = int(torch.randint(0, max(1, length - width + 1), ()))
            keep[b, start:start + width, :] = False
    return x * keep


class AudioFeatures(nn.Module):
    """Waveforms to normalised feature frames, batched on the module's device (module docstring).

    Arguments:
        config: a :class:`FeatureConfig`.

    Buffers: ``window (L)``, ``mel (K, J)``, ``dct (J, C)`` (C = 0 without MFCCs), and the global
    statistics ``mean (F)``, ``std (F)`` (0 and 1 until :meth:`set_statistics`).
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("window", torch.hann_window(c.n_fft))
        self.register_buffer("mel", mel_filterbank(c.n_fft // 2 + 1, c.sample_rate, c.n_mels, c.f_min, c.f_max,
                                                   c.mel_scale, c.mel_norm).float())
        self.register_buffer("dct", dct_matrix(c.n_mels, c.n_mfcc).float())
        self.register_buffer("mean", torch.zeros(c.size))
        self.register_buffer("std", torch.ones(c.size))

    def log_mel(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel frames before normalisation.

        Arguments:
            waves: ``(B, N)`` samples, zero beyond each row's length.  lengths: ``(B,)`` samples per row.
        Returns:
            ``(x (B, T, J), frames (B,))``, x zero at padded frames.
        """
        c = self.config
        spectrum = torch.stft(waves.float(), c.n_fft, c.hop_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)                      # (B, K, T)
        power = spectrum.real ** 2 + spectrum.imag ** 2                                       # (B, K, T)
        x = torch.log((power.transpose(1, 2) @ self.mel).clamp(min=LOG_FLOOR))               # (B, T, J)
        frames = frame_counts(lengths.to(x.device), c.hop_length)                             # (B,)
        return x * valid_frames(frames, x.shape[1])[:, :, None], frames

    def raw(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel (or MFCC) frames before normalisation: ``(x (B, T, F), frames (B,))`` (see :meth:`log_mel`)."""
        x, frames = self.log_mel(waves, lengths)
        return (x @ self.dct if self.config.n_mfcc else x), frames                           # (B, T, F)

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised frames ``(x (B, T, F), frames (B,))`` (see :meth:`raw`)."""
        x, frames = self.raw(waves, lengths)
        if self.config.normalize == "utterance":
            return normalize_utterances(x, frames), frames
        if self.config.normalize == "global":
            return (x - self.mean) / self.std * valid_frames(frames, x.shape[1])[:, :, None], frames
        return x, frames

    @torch.no_grad()
    def set_statistics(self, batches) -> None:
        """Measures the global mean and standard deviation of every feature over the valid frames of
        ``batches`` (an iterable of ``(waves (B, N), lengths (B,))``)."""
        total = square = None
        count = 0
        for waves, lengths in batches:
            x, frames = self.raw(waves.to(self.window.device), lengths)
            total = x.sum((0, 1)) if total is None else total + x.sum((0, 1))                 # (F,)
            square = (x ** 2).sum((0, 1)) if square is None else square + (x ** 2).sum((0, 1))
            count += int(frames.sum())
        if not count:
            raise ValueError("batches: no frames to measure the feature statistics on")
        mean = total / count
        self.mean.copy_(mean)
        self.std.copy_((square / count - mean ** 2).clamp(min=1e-10).sqrt())
