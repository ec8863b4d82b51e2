"""torch DDP plumbing for the training engine (launched by ``torchrun``).

Without ``WORLD_SIZE`` > 1 in the environment every function is a plain
single-process no-op, so the engine has one code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    Sampler,
)

from asegen.errors import ConfigError
from asegen.graph import AtomsGraph

__all__ = [
    "KeyBatches",
    "KeySampler",
    "any_true",
    "average",
    "barrier",
    "broadcast_path",
    "device_for",
    "loader",
    "set_epoch",
    "setup",
    "teardown",
    "wrap",
]


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def setup(device: str) -> tuple[int, int]:
    """Join the process group if launched with several processes; return rank, size."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        uses_cuda = device.startswith("cuda") or (
            device == "auto" and torch.cuda.is_available()
        )
        dist.init_process_group(backend="nccl" if uses_cuda else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return rank, world


def device_for(device: str, rank: int) -> torch.device:
    """Return the device of this process (``auto``, ``cuda``: ``cuda:LOCAL_RANK``).

    Raises
    ------
    asegen.errors.ConfigError
        If ``device`` is not a torch device or not available on this machine.
    """
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" or (device.startswith("cuda") and _world() > 1):
        chosen = f"cuda:{local}"
    else:
        chosen = device
    try:
        torch.empty(0, device=chosen)  # fails for a device this machine lacks
    except (RuntimeError, AssertionError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(
            f"train.device {device!r} is not available here ({reason[:120]}); "
            "use --device cpu or auto"
        ) from None
    return torch.device(chosen)


class EpochSampler(Sampler[int]):
    """A seeded shuffle fixed by (seed, epoch), so a resumed run repeats it."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class KeySampler(Sampler[tuple[int, int]]):
    """Keys ``(epoch, k)`` for the items ``k`` that ``order`` yields.

    Items are drawn by key, so an item that changes from epoch to epoch
    (fresh noise) is the same in every worker process and after a resume.
    ``order`` is a sampler of item indices, or ``None`` for all items in
    order.
    """

    def __init__(self, size: int, order: Sampler[int] | None = None) -> None:
        self.size = size
        self.order = order
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` (the order's own shuffle follows it)."""
        self.epoch = epoch
        if hasattr(self.order, "set_epoch"):
            self.order.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = range(self.size) if self.order is None else self.order
        return ((self.epoch, int(k)) for k in order)

    def __len__(self) -> int:
        return self.size if self.order is None else len(self.order)  # type: ignore[arg-type]


class KeyBatches(BatchSampler):
    """Lists of keys, one per batch, from a :class:`KeySampler`."""

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` (see :meth:`KeySampler.set_epoch`)."""
        self.sampler.set_epoch(epoch)  # type: ignore[attr-defined]


class _Batches(Dataset):
    """The dataset a loader reads: one batched graph per list of keys."""

    def __init__(self, items: Dataset) -> None:
        self.items = items

    def __getitem__(self, keys: list[tuple[int, int]]) -> AtomsGraph:
        return self.items.batch(keys)  # type: ignore[attr-defined]


def loader(
    items: Dataset, batch_size: int, workers: int, *, seed: int, shuffle: bool
) -> DataLoader:
    """Return a DataLoader of batched graphs, sharded across processes if shuffled.

    Each batch is ``items.batch(keys)`` for the keys of its items, so a task
    may build a whole batch at once. Unshuffled loaders (validation, test)
    ask for the items of epoch 0 in every epoch, so they see the same items
    each time.
    """
    size = len(items)  # type: ignore[arg-type]
    order: Sampler[int] | None = None
    if shuffle:
        order = (
            DistributedSampler(items, shuffle=True, seed=seed)
            if _world() > 1
            else EpochSampler(size, seed)
        )
    return DataLoader(
        _Batches(items),
        batch_size=None,
        sampler=KeyBatches(KeySampler(size, order), batch_size, drop_last=False),
        num_workers=workers,
        persistent_workers=workers > 0,
    )


def set_epoch(data: DataLoader, epoch: int) -> None:
    """Tell the loader's sampler which epoch starts."""
    if hasattr(data.sampler, "set_epoch"):
        data.sampler.set_epoch(epoch)


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """Wrap in DistributedDataParallel when several processes train."""
    if _world() == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    # Some models own weights that a given loss never reaches (e.g. edge updates
    # of a last layer whose outputs go unread), so let DDP look for them.
    return nn.parallel.DistributedDataParallel(
        module, device_ids=ids, find_unused_parameters=True
    )


def average(sums: dict[str, float], count: int) -> dict[str, float]:
    """Divide summed metrics by the number of structures, over all processes."""
    keys = sorted(sums)
    if _world() > 1:
        values = torch.tensor(
            [sums[k] for k in keys] + [float(count)], dtype=torch.float64
        )
        dist.all_reduce(values)
        *totals, count_all = values.tolist()
        sums, count = dict(zip(keys, totals, strict=True)), int(count_all)
    return {k: sums[k] / max(count, 1) for k in keys}


def any_true(flag: bool, device: torch.device) -> bool:
    """Return whether ``flag`` is true on any process (``flag`` itself alone)."""
    if _world() == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_path(path: Path | None) -> Path:
    """Share rank 0's run directory with every process."""
    if _world() == 1:
        assert path is not None
        return path
    box = [path]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


def barrier() -> None:
    """Wait for every process (no-op alone)."""
    if _world() > 1:
        dist.barrier()


def teardown() -> None:
    """Leave the process group."""
    if _world() > 1:
        dist.destroy_process_group()
