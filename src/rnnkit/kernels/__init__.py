"""Fast whole-sequence paths: torch's fused kernels where they apply, hand-derived BPTT kernels where not.

``choose_path(cells, ...)`` picks one of three paths for a layer (see :mod:`.dispatch`):

* ``run_fused``: standard configurations through ``torch.lstm/gru/rnn_tanh/rnn_relu`` (oneDNN on
  CPU, cuDNN on GPU), lengths in time chunks on CPU and packed on CUDA, inter-layer dropout included;
* ``run_cell``: variants (peepholes, layer norm, coupled / no forget gate, other activations,
  GRU ``reset_after=False``, recurrent dropout, zoneout) through ``torch.autograd.Function``
  kernels with the hand-derived BPTT (:mod:`.lstm`, :mod:`.gru`, :mod:`.simple`);
* otherwise the per-step autograd loop of ``rnnkit.recurrent.loop`` (user cells, callables).

The kernels are device-agnostic (dtype and device follow the inputs; on CUDA the fused path is
cuDNN and the BPTT kernels run their torch-op loops) and once-differentiable: double backward
raises :class:`DoubleBackwardError`; use ``force_loop()`` for it. On CPU their step loops run in
C++ once built (:mod:`.native`: built in the background at first use; ``RNNKIT_NATIVE``), their
per-step products through an AVX-512 panel kernel where the CPU has it, else oneDNN or BLAS
(:mod:`.gemm`).
"""
from .common import DoubleBackwardError
from .dispatch import BPTT, FUSED, LOOP, Path, bptt_reason, choose_path, force_loop
from .fused import run_fused
from .sequence import run_cell

__all__ = ["BPTT", "FUSED", "LOOP", "DoubleBackwardError", "Path", "bptt_reason", "choose_path", "force_loop",
           "run_cell", "run_fused"]
