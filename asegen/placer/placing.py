"""What ``asegen place`` runs: generate, append batch by batch, resume."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from asegen._structures import check_atoms
from asegen.errors import ConfigError

__all__ = ["PlacingSummary", "parse_conditions", "run_placing"]


@dataclass(frozen=True)
class PlacingSummary:
    """What a call of :func:`run_placing` did."""

    written: int
    total: int
    attempts: int
    failed: int


def parse_conditions(items: Sequence[str]) -> dict[str, Any]:
    """Return ``NAME=VALUE`` items as a mapping (numbers, lists or formulas)."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name or not raw:
            raise ConfigError(
                f"--condition {item!r} must look like NAME=VALUE (e.g. gap=4.0, "
                "composition=C7O2H10, fingerprint=0,1,1)"
            )
        if name in values:
            raise ConfigError(f"--condition {name} is given twice; give it once")
        parts = raw.split(",")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            values[name] = raw  # a formula
            continue
        values[name] = numbers[0] if len(numbers) == 1 else numbers
    return values


def run_placing(
    model: str | os.PathLike,
    *,
    output: str | os.PathLike,
    n: int,
    conditions: dict[str, Any] | None = None,
    template: str | os.PathLike | None = None,
    seed: int | None = None,
    batch_size: int = 100,
    device: str = "auto",
    shard: str | None = None,
    **options: Any,
) -> PlacingSummary:
    """Place ``n`` attempts' structures into ``output``, resuming what it holds.

    ``options`` are the other arguments of
    :meth:`~asegen.placer.AutoregressivePlacer.batches` (``max_n_atoms``,
    ``temperature``, ``grid_spacing``, ``grid_distance_min``). Finished
    structures are appended batch by batch; a rerun of the same command
    regenerates the interrupted batch (same seed) and writes only what is
    missing. ``shard="K/N"`` builds batches ``b % N == K - 1`` only, with
    ``info["shard"]``, ``info["run"]`` and ``info["units"]`` recorded for
    ``asegen merge`` (``n`` is the whole run's; a seed is needed).
    """
    from pathlib import Path

    from asegen._scaleout import (
        RUN_KEY,
        SHARD_KEY,
        UNITS_KEY,
        check_resumed_shard,
        fingerprint,
        parse_shard,
    )
    from asegen.augment.io import (
        OutputWriter,
        output_format,
        output_lock,
        read_existing,
    )
    from asegen.data import read_structures
    from asegen.models.checkpoint import resolve_checkpoint
    from asegen.placer.generator import AutoregressivePlacer

    part = parse_shard(shard)
    fmt = output_format(output)
    start = None
    if template is not None:
        images = read_structures(template)
        if len(images) != 1:
            raise ConfigError(f"{template} holds {len(images)} structures; give one")
        start = images[0]
        check_atoms(start, name=f"the template {template}")
    placer = AutoregressivePlacer.load(model, device=device)
    with output_lock(output):
        done = read_existing(output, fmt)
        seed, first, skip = _resume_point(done, seed, batch_size, output)
        tag: dict[str, Any] = {}
        if part is not None:
            if seed is None:
                raise ConfigError(
                    "--shard needs --seed: every shard must draw from the same "
                    "stream of structures"
                )
            run = fingerprint(
                "place", Path(resolve_checkpoint(model)), seed, batch_size,
                conditions, start, options,
            )  # fmt: skip
            units = -(-n // batch_size)  # batches
            tag = {SHARD_KEY: str(part), RUN_KEY: run, UNITS_KEY: units}
        if done:
            check_resumed_shard(done[-1].info, part, tag.get(RUN_KEY, ""), output)
        written = attempts = failed = 0
        with OutputWriter(output, fmt) as writer:
            for batch in placer.batches(
                n,
                conditions,
                template=start,
                seed=seed,
                batch_size=batch_size,
                start=first,
                shard=part,
                **options,
            ):
                attempts += batch.attempts
                failed += batch.failed
                for atoms in batch.structures[skip:]:
                    atoms.info.update(tag)
                    writer.write(atoms)
                    written += 1
                skip = 0
    return PlacingSummary(written, len(done) + written, attempts, failed)


def _resume_point(
    done: list[Atoms], seed: int | None, batch_size: int, output: str | os.PathLike
) -> tuple[int | None, int, int]:
    """Return the seed, the batch to start with and how many of it are written."""
    if not done:
        return seed, 0, 0
    from asegen.augment.io import resumed_seed

    info = done[-1].info
    stored = resumed_seed(
        info, seed, batch_size, output,
        generator="placer", command="asegen place", unit="structures",
    )  # fmt: skip
    last = int(info["batch"])
    return stored, last, sum(int(a.info.get("batch", -1)) == last for a in done)
