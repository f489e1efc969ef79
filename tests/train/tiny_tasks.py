"""Tiny task models for the training-engine tests (also imported by the subprocess scripts)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.data.streams import Batch, StreamBatches
from rnnkit.nn.losses import LossOutput
from rnnkit.train import Callback, TrainConfig


@dataclass(frozen=True)
class TinyLMConfig:
    vocab: int = 7
    hidden: int = 12
    dropout: float = 0.0


class TinyLM(nn.Module):
    """Char LSTM: embedding -> rnnkit.LSTM -> linear; next-token cross-entropy over ``y[:, loss_from:]``."""

    def __init__(self, config: TinyLMConfig = TinyLMConfig()):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.hidden)
        self.rnn = rnnkit.LSTM(config.hidden, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden, config.vocab)

    def loss(self, batch: Batch, state=None) -> LossOutput:
        x = self.drop(self.embed(batch.x))                                    # (B, T, H)
        if batch.state_at == x.shape[1]:
            hidden, carried = self.rnn(x, state)                              # (B, T, H)
        else:                                                                 # k2 > k1: carry the mid-window state
            head, carried = self.rnn(x[:, :batch.state_at], state) if batch.state_at else (x[:, :0], state)
            tail, _ = self.rnn(x[:, batch.state_at:], carried)
            hidden = torch.cat([head, tail], dim=1)                           # (B, T, H)
        logits = self.out(self.drop(hidden))[:, batch.loss_from:]             # (B, T', V)
        targets = batch.y[:, batch.loss_from:]                                # (B, T')
        loss = F.cross_entropy(logits.reshape(-1, self.config.vocab), targets.reshape(-1))
        accuracy = (logits.argmax(-1) == targets).float().mean()
        return LossOutput(loss, targets.numel(), carried, {"accuracy": float(accuracy)})


def pattern_stream(n: int = 2000, vocab: int = 7, seed: int = 0) -> torch.Tensor:
    """A learnable stream: a repeating pattern with 10% random tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.arange(n) % vocab
    noise = torch.rand(n, generator=generator) < 0.1
    return torch.where(noise, torch.randint(vocab, (n,), generator=generator), ids).long()


def lm_streams(batch_size: int = 4, seq_len: int = 10, n: int = 2000, bptt: int | None = None):
    ids = pattern_stream(n)
    split = int(0.8 * n)
    return (StreamBatches(ids[:split], batch_size, seq_len, bptt=bptt),
            StreamBatches(ids[split:], batch_size, seq_len))


@dataclass(frozen=True)
class RegressionConfig:
    inputs: int = 3


class Regression(nn.Module):
    """``y ≈ x w + b`` with the mean squared error over the batch's rows; batches are ``(x, y)``."""

    def __init__(self, config: RegressionConfig = RegressionConfig()):
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.inputs, 1)

    def loss(self, batch, state=None) -> LossOutput:
        x, y = batch
        return LossOutput(F.mse_loss(self.linear(x).squeeze(-1), y), x.shape[0])


def regression_batches(count: int = 8, rows: int = 4, inputs: int = 3, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    w = torch.tensor([1.0, -2.0, 0.5])[:inputs]
    batches = []
    for _ in range(count):
        x = torch.randn(rows, inputs, generator=generator)
        batches.append((x, x @ w + 0.3 + 0.1 * torch.randn(rows, generator=generator)))
    return batches


class StopAt(Callback):
    """Stops training after optimizer step ``step``."""

    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, logs):
        if trainer.step == self.step:
            trainer.stop_training = True


# The run that test_checkpoint.py kills and resumes (dropout, carried state, validations, plateau).
RESUME_CONFIG = TrainConfig(lr=5e-3, schedule="plateau", plateau_patience=0, epochs=3, eval_every=7,
                            checkpoint_every=8, log_every=1, progress=False, seed=5)
