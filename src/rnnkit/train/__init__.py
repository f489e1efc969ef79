"""The training engine: ``Trainer.fit/evaluate`` for any task model with ``loss(batch, state=None)``.

Optimizers and LR schedules by name (or torch optimizer / scheduler objects), gradient clipping and
accumulation, truncated BPTT over streams (state carried between batches), early stopping, mixed
precision, ``torch.compile``, callbacks with Keras' hook names, atomic pickle-free checkpoints that
verify themselves, with exact resume, locked and owned run directories, CSV / TensorBoard / PNG logs,
and data-parallel training under ``torchrun``. Needs the ``train`` extra (safetensors for the checkpoints).
"""
try:
    import safetensors  # noqa: F401  (the checkpoints' file format)
except ImportError as err:
    raise ImportError("rnnkit.train needs safetensors, for its pickle-free checkpoints: "
                      "pip install 'rnnkit[train]'") from err

from .callbacks import Callback, History
from .checkpoint import Checkpoint, CheckpointWarning, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .rng import seed_everything
from .rundir import RunDir, RunDirError
from .trainer import Trainer
from .tree import register_state_type

__all__ = ["Callback", "Checkpoint", "CheckpointWarning", "History", "RunDir", "RunDirError", "TrainConfig",
           "Trainer", "load_checkpoint", "register_state_type", "save_checkpoint", "seed_everything"]
