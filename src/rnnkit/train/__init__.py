"""The training engine: ``Trainer.fit/evaluate`` for any task model with ``loss(batch, state=None)``.

Optimizers and LR schedules by name, gradient clipping and accumulation, truncated BPTT over
streams (state carried between batches), early stopping, mixed precision, callbacks with Keras'
hook names, atomic pickle-free checkpoints with exact resume, CSV / TensorBoard / PNG logs, and
data-parallel training under ``torchrun``.
"""
from .callbacks import Callback, History
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .rng import seed_everything
from .trainer import Trainer

__all__ = ["Callback", "Checkpoint", "History", "TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint",
           "seed_everything"]
