r"""Long-range memory tasks: the adding problem, the copy task and sequential 8x8 digits.

Each task makes ``(x, y)`` tensors from a seeded ``torch.Generator``:

* **adding problem** (Hochreiter & Schmidhuber 1997; the variant of Le et al. 2015): ``x (N, T, 2)``,
  channel 0 holds values ``u_t ~ U[0, 1]``, channel 1 marks two steps with 1, one in the first half
  and one in the second half of the sequence; the target is ``y = u_a + u_b`` for the marked a, b.
  Answering 1 always (the mean of y) scores ``MSE = Var(u_a + u_b) = 2/12 ≈ 0.167``.
* **copy task** with lag T (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): ``x (N, T + 2S, K)``
  one-hot over K = A + 2 symbols (0 blank, 1..A data, A + 1 delimiter): S data symbols, T - 1
  blanks, the delimiter, S blanks. The target ``y (N, T + 2S)`` is blank everywhere but the last S
  steps, which repeat the S data symbols. Answering blanks, then guessing: copy accuracy 1/A and
  cross-entropy ``S ln A / (T + 2S)`` per step.
* **sequential digits**: scikit-learn's 1,797 8x8 digit images read pixel by pixel, ``x (N, 64, 1)``
  (intensity / 16), ``y (N,)`` the class; ``permuted`` reads the pixels in a fixed seeded order.

The training data of the adding and copy tasks is drawn afresh every epoch, and the digits are
shuffled every epoch, from torch's global generator (which the trainer reseeds per epoch); the
test sets of the adding and copy tasks and the digits' 80/20 train/test split are fixed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

ADDING_BASELINE_MSE = 2.0 / 12.0
DIGIT_PIXELS = 64
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0
COPY_ALPHABET = 8
COPY_LENGTH = 10
TASKS = ("adding", "copy", "digits", "pdigits")

Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def _check_positive(value: int, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def adding_problem(num_samples: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of the adding problem (see the module docstring).

    Arguments:
        num_samples: N.  length: T >= 2 steps; the two marks lie up to T - 1 steps apart.
        generator: the source of randomness.
    Returns:
        ``x (N, T, 2)`` float (values, marks) and ``y (N,)`` float, the sum of the two marked values.
    """
    _check_positive(num_samples, "num_samples")
    _check_positive(length, "length", 2)
    values = torch.rand(num_samples, length, generator=generator)                 # (N, T)
    half = length // 2
    first = torch.randint(0, half, (num_samples,), generator=generator)           # (N,)
    second = torch.randint(half, length, (num_samples,), generator=generator)     # (N,)
    marks = torch.zeros(num_samples, length)                                      # (N, T)
    rows = torch.arange(num_samples)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]                                # (N,)
    return torch.stack([values, marks], dim=2), y


def copy_task(num_samples: int, lag: int, generator: torch.Generator, *, alphabet: int = COPY_ALPHABET,
              copy_length: int = COPY_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of the copy task (see the module docstring).

    Arguments:
        num_samples: N.  lag: T >= 1, the steps between the last data symbol and the delimiter.
        generator: the source of randomness.
        alphabet: A data symbols.  copy_length: S symbols to remember.
    Returns:
        ``x (N, T + 2S, A + 2)`` one-hot float and ``y (N, T + 2S)`` long symbol ids (0 = blank).
    """
    _check_positive(num_samples, "num_samples")
    _check_positive(lag, "lag")
    _check_positive(alphabet, "alphabet")
    _check_positive(copy_length, "copy_length")
    length = lag + 2 * copy_length
    data = torch.randint(1, alphabet + 1, (num_samples, copy_length), generator=generator)  # (N, S)
    inputs = torch.zeros(num_samples, length, dtype=torch.long)                             # (N, T + 2S)
    inputs[:, :copy_length] = data
    inputs[:, lag + copy_length - 1] = alphabet + 1
    y = torch.zeros(num_samples, length, dtype=torch.long)                                  # (N, T + 2S)
    y[:, -copy_length:] = data
    return torch.nn.functional.one_hot(inputs, alphabet + 2).float(), y


def copy_baseline_cross_entropy(lag: int, alphabet: int = COPY_ALPHABET, copy_length: int = COPY_LENGTH) -> float:
    """The memoryless strategy's cross-entropy per step: ``S ln A / (T + 2S)`` nats."""
    return copy_length * math.log(alphabet) / (lag + 2 * copy_length)


def digits(split: str = "train", permuted: bool = False,
           permutation_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits as pixel sequences, with a fixed 80/20 train/test split.

    Arguments:
        split: ``"train"`` (1,438 images) or ``"test"`` (359 images); the split is fixed.
        permuted: read the 64 pixels in the fixed order :func:`pixel_permutation` gives.
        permutation_seed: the seed of that order.
    Returns:
        ``x (N, 64, 1)`` float intensities in [0, 1] and ``y (N,)`` long classes 0..9.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("digits: needs scikit-learn; pip install 'rnnkit[tasks]'") from err
    images = load_digits()
    x = torch.as_tensor(images.data, dtype=torch.float32).div(16.0).unsqueeze(2)  # (1797, 64, 1)
    y = torch.as_tensor(images.target, dtype=torch.long)                          # (1797,)
    order = torch.randperm(len(y), generator=_generator(SPLIT_SEED))
    test_size = round(DIGITS_TEST_FRACTION * len(y))
    rows = order[test_size:] if split == "train" else order[:test_size]
    x = x[rows]
    if permuted:
        x = x[:, pixel_permutation(permutation_seed)]
    return x, y[rows]


def pixel_permutation(seed: int = 0) -> torch.Tensor:
    """The fixed order of the 64 pixels in permuted digits: ``torch.randperm(64)`` seeded with ``seed``."""
    return torch.randperm(DIGIT_PIXELS, generator=_generator(seed))


@dataclass
class SequenceBatch:
    """A batch of whole sequences.

    Attributes:
        x: ``(B, T, F)`` float inputs.
        y: the targets: ``(B,)`` float (regression), ``(B,)`` long (classes) or ``(B, T)`` long (per step).
    """

    x: torch.Tensor
    y: torch.Tensor

    def to(self, device: torch.device | str) -> "SequenceBatch":
        """The same batch on ``device``."""
        return SequenceBatch(self.x.to(device, non_blocking=True), self.y.to(device, non_blocking=True))

    def __len__(self) -> int:
        return self.x.shape[0]


def _epoch_generator() -> torch.Generator:
    """A generator for one pass over the data, seeded from torch's global generator.

    The trainer reseeds the global generator every epoch from ``(seed, epoch, rank)``, so each epoch
    gets new, reproducible data and a resumed run replays the same batches.
    """
    return _generator(int(torch.randint(0, 2 ** 62, ())))


class TensorBatches:
    """Re-iterable minibatches of a fixed dataset ``(x, y)``.

    Arguments:
        x: ``(N, T, F)``.  y: ``(N, ...)`` targets.  batch_size: B (the last batch may be smaller).
        shuffle: visit the rows in a new order on every pass, drawn from torch's global generator.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"y: expected {x.shape[0]} rows like x, got shape {tuple(y.shape)}")
        self.x, self.y = x, y
        self.batch_size = _check_positive(batch_size, "batch_size")
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[SequenceBatch]:
        count = self.x.shape[0]
        order = torch.randperm(count, generator=_epoch_generator()) if self.shuffle else torch.arange(count)
        for begin in range(0, count, self.batch_size):
            rows = order[begin: begin + self.batch_size]
            yield SequenceBatch(self.x[rows], self.y[rows])


class GeneratedBatches:
    """Re-iterable batches drawn afresh on every pass from ``sampler(batch_size, generator)``.

    Each pass seeds its generator from torch's global generator (see :func:`_epoch_generator`).
    """

    def __init__(self, sampler: Sampler, batch_size: int, batches_per_epoch: int):
        self.sampler = sampler
        self.batch_size = _check_positive(batch_size, "batch_size")
        self.batches_per_epoch = _check_positive(batches_per_epoch, "batches_per_epoch")

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[SequenceBatch]:
        generator = _epoch_generator()
        for _ in range(self.batches_per_epoch):
            yield SequenceBatch(*self.sampler(self.batch_size, generator))


@dataclass(frozen=True)
class MemoryTaskData:
    """A task's data and the facts a model needs.

    Attributes:
        name: one of :data:`TASKS`.  lag: the dependency length (T; 64 for digits).
        train: re-iterable training batches.  test: the fixed test set, in batches.
        input_size: F.  num_outputs: 1 (adding), the classes (digits: 10) or symbols (copy: A + 2).
        target: ``"regression"`` (y (B,)), ``"class"`` (y (B,)) or ``"sequence"`` (y (B, T)).
        baseline: what a model without memory scores, in words.
    """

    name: str
    lag: int
    train: TensorBatches | GeneratedBatches
    test: TensorBatches
    input_size: int
    num_outputs: int
    target: str
    baseline: str


def memory_task(name: str, lag: int | None = None, *, batch_size: int = 64, train_batches: int = 100,
                test_size: int = 1000) -> MemoryTaskData:
    """The data of one memory task, ready for the trainer.

    Arguments:
        name: ``"adding"``, ``"copy"``, ``"digits"`` or ``"pdigits"`` (permuted digits).
        lag: T for adding (sequence length) and copy (the gap); must be None for the digits (T = 64).
        batch_size: B.  train_batches: batches per epoch of the generated tasks.
        test_size: the fixed test set's size for the generated tasks.
    """
    if name not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {name!r}")
    if name in ("digits", "pdigits"):
        if lag is not None:
            raise ValueError(f"lag: the digits are sequences of a fixed {DIGIT_PIXELS} pixels; got lag={lag!r}")
        permuted = name == "pdigits"
        train, test = digits("train", permuted), digits("test", permuted)
        return MemoryTaskData(name, DIGIT_PIXELS, TensorBatches(*train, batch_size, shuffle=True),
                              TensorBatches(*test, batch_size), 1, 10, "class", "accuracy 0.10 by chance")
    if lag is None:
        raise ValueError(f"lag: the {name} task needs a lag (sequence length / gap), got None")
    _check_positive(lag, "lag", 2 if name == "adding" else 1)

    def sampler(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return adding_problem(count, lag, generator) if name == "adding" else copy_task(count, lag, generator)

    test = TensorBatches(*sampler(test_size, _generator(SPLIT_SEED + 1)), batch_size)
    train = GeneratedBatches(sampler, batch_size, train_batches)
    if name == "adding":
        return MemoryTaskData(name, lag, train, test, 2, 1, "regression",
                              f"MSE {ADDING_BASELINE_MSE:.3f} by always answering 1")
    symbols = COPY_ALPHABET + 2
    baseline = (f"copy accuracy {1 / COPY_ALPHABET:.3f} and cross-entropy "
                f"{copy_baseline_cross_entropy(lag):.3f} without memory")
    return MemoryTaskData(name, lag, train, test, symbols, symbols, "sequence", baseline)
