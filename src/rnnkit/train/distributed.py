"""Data-parallel training through ``torch.distributed`` (``torchrun --nproc_per_node=N``).

Under torchrun (``WORLD_SIZE > 1``) :func:`setup` joins the process group (gloo on CPU, nccl on
CUDA, unless one exists), each replica wraps the task model in ``DistributedDataParallel`` through
:class:`LossModule` (so calling it runs ``model.loss`` and its backward all-reduces the gradients:
each replica's gradient becomes the mean over replicas), reads its own shard of the data
(:func:`shard`), and sums running statistics across replicas for logging. Only rank 0 writes.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn


@dataclass
class Replicas:
    """This process's place among the replicas.

    Attributes:
        rank / world_size: as torch.distributed numbers them (0 / 1 when not distributed).
        device: this replica's device (``cuda:LOCAL_RANK`` under torchrun on CUDA).
        owns_group: whether :func:`setup` created the process group (and :meth:`close` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the replica that writes checkpoints, logs and the console."""
        return self.rank == 0

    @property
    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums across replicas (the values themselves when not distributed)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every replica if ``flag`` is true on any (so all stop at the same step)."""
        return bool(self.all_reduce_sum([float(flag)])[0]) if self.world_size > 1 else flag

    def all_gather_tensors(self, tensors: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Every replica's ``tensors`` (CPU), in rank order; shapes may differ between replicas.

        Sent as safetensors bytes, so nothing is pickled.
        """
        payload = save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        if self.world_size == 1:
            return [load_tensors(payload)]
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(self._comm_device)
        sizes = [torch.zeros(1, dtype=torch.long, device=self._comm_device) for _ in range(self.world_size)]
        dist.all_gather(sizes, torch.tensor([data.numel()], device=self._comm_device))
        longest = max(int(s) for s in sizes)
        padded = torch.zeros(longest, dtype=torch.uint8, device=self._comm_device)
        padded[: data.numel()] = data
        gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(gathered, padded)
        return [load_tensors(bytes(g[: int(s)].cpu().numpy())) for g, s in zip(gathered, sizes)]

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        """Destroys the process group if :func:`setup` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def setup(device: torch.device | str | None = None) -> Replicas:
    """Joins the process group when launched by torchrun and picks this replica's device.

    Arguments:
        device: the device to train on; None picks ``cuda:LOCAL_RANK`` if CUDA is available, else CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world_size == 1 and not dist.is_initialized():
        return Replicas(device=device)
    owns_group = not dist.is_initialized()
    if owns_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    replicas = Replicas(dist.get_rank(), dist.get_world_size(), device, owns_group)
    if owns_group:
        atexit.register(replicas.close)
    return replicas


class LossModule(nn.Module):
    """Makes ``model.loss`` the module's forward, so ``DistributedDataParallel`` can wrap it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Any, state: Any = None) -> Any:
        return self.model.loss(batch, state=state)


def wrap(model: nn.Module, replicas: Replicas, compiler: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module:
    """``LossModule(model)``, inside ``DistributedDataParallel`` when there are several replicas, then
    compiled by ``compiler`` (e.g. ``torch.compile``; None: eager)."""
    module = LossModule(model)
    if replicas.world_size > 1:
        device_ids = [replicas.device] if replicas.device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=device_ids)
    return compiler(module) if compiler is not None else module


def shard(data: Any, replicas: Replicas) -> Any:
    """This replica's part of ``data``: ``data.shard(rank, world_size)`` if it has one, else every
    ``world_size``-th batch starting at ``rank`` (a trailing incomplete round is dropped so every
    replica runs the same number of batches).

    Raises:
        ValueError: the data carries state between batches but has no ``shard`` (striding would
            break its streams).
    """
    if replicas.world_size == 1:
        return data
    if callable(getattr(data, "shard", None)):
        return data.shard(replicas.rank, replicas.world_size)
    if getattr(data, "carry_state", False):
        raise ValueError(f"data: {type(data).__name__} carries state between batches, so it needs a "
                         "shard(rank, world_size) method to be split across replicas")
    return Strided(data, replicas.rank, replicas.world_size)


class Strided:
    """Every ``world_size``-th batch of a re-iterable, starting at ``rank``; complete rounds only."""

    def __init__(self, data: Any, rank: int, world_size: int):
        self.data, self.rank, self.world_size = data, rank, world_size

    def __len__(self) -> int:
        return len(self.data) // self.world_size

    def __iter__(self) -> Iterator[Any]:
        round_ = []
        for batch in self.data:
            round_.append(batch)
            if len(round_) == self.world_size:
                yield round_[self.rank]
                round_ = []
