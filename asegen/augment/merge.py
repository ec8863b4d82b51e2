"""Join the shard outputs of one run into its one-process output (``asegen merge``).

The outputs of ``asegen augment``, ``sample`` and ``place`` run with
``--shard K/N`` record in every structure's ``info`` the shard (``"K/N"``),
the run's fingerprint (``run``: settings, inputs, model and seed hashed) and
the run's number of units (``units``). Every structure is also named by its
unit: ``starting-structure`` and ``id`` (augment), ``sample`` (sample),
``attempt`` (place). The merge checks that the inputs are the shards of one
run, all of them, keeps each structure once (by its name, never by geometry),
orders them as one process writes them and drops the shard keys, so the
result equals the one-process output. It is written next to the output and
renamed over it at the end: an interrupted merge leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from asegen._scaleout import RUN_KEY, SHARD_KEY, UNITS_KEY
from asegen.augment.family import START_KEY
from asegen.augment.io import OutputWriter, output_format, output_lock, read_existing
from asegen.errors import ConfigError, DataFormatError, InputNotFoundError

__all__ = ["MergeSummary", "merge"]


@dataclass(frozen=True)
class MergeSummary:
    """What :func:`merge` wrote."""

    written: int
    duplicates: int
    shards: int
    run: str

    def line(self, output: str | os.PathLike) -> str:
        """One line for the command line."""
        return (
            f"merged {self.shards} shards of run {self.run}: {self.written} "
            f"structures into {output} ({self.duplicates} duplicates dropped)"
        )


def merge(
    output: str | os.PathLike, inputs: Sequence[str | os.PathLike]
) -> MergeSummary:
    """Write the structures of the shard outputs ``inputs`` to ``output``, once each.

    Parameters
    ----------
    output
        A new ``.xyz``/``.extxyz``, ``.db`` or ``.h5`` file.
    inputs
        The outputs of every shard of one run (any of those formats).

    Raises
    ------
    ConfigError
        If ``output`` exists or is an input, an input is no shard output,
        the inputs come from different runs, a shard is missing or given
        twice, or two inputs disagree on a structure.
    InputNotFoundError
        If an input does not exist.
    """
    target = Path(output)
    fmt = output_format(target)
    if not inputs:
        raise ConfigError("give the shard outputs to merge after the output")
    sources = [Path(path) for path in inputs]
    seen: set[Path] = set()
    for source in sources:
        if not source.is_file():
            raise InputNotFoundError(f"shard output {source} does not exist")
        if source.resolve() == target.resolve():
            raise ConfigError(
                f"{target} is one of the inputs; write the merge to a new file"
            )
        if source.resolve() in seen:
            raise ConfigError(f"{source} is given twice; give each shard once")
        seen.add(source.resolve())
    if target.exists():
        raise ConfigError(
            f"{target} already exists; remove it or merge into another file"
        )
    with contextlib.ExitStack() as locks:
        for path in [target, *sources]:
            locks.enter_context(output_lock(path))  # no shard still running
        shards = [_read_shard(source) for source in sources]
        run = _check_one_run(shards)
        merged: dict[tuple[int, ...], Atoms] = {}
        where: dict[tuple[int, ...], Path] = {}
        duplicates = 0
        for source, (_, frames) in zip(sources, shards, strict=True):
            for atoms in frames:
                key = _unit(atoms, source)
                if key in merged:
                    _check_same(merged[key], atoms, where[key], source, key)
                    duplicates += 1
                    continue
                merged[key], where[key] = atoms, source
        _check_finished(merged, shards, sources)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)  # left by an interrupted merge
        try:
            with OutputWriter(partial, fmt) as writer:
                for key in sorted(merged):
                    atoms = merged[key]
                    for name in (SHARD_KEY, RUN_KEY, UNITS_KEY):
                        atoms.info.pop(name, None)
                    writer.write(atoms)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return MergeSummary(len(merged), duplicates, len(sources), run)


def _read_shard(source: Path) -> tuple[dict[str, str | int], list[Atoms]]:
    """Return a shard output's shard, run and units, and its structures."""
    frames = read_existing(source, output_format(source))
    if not frames:
        raise ConfigError(
            f"{source} holds no structures; rerun its shard to fill it, or leave "
            "it out if that shard has no work"
        )
    first = frames[0].info
    if SHARD_KEY not in first or RUN_KEY not in first:
        raise ConfigError(
            f"{source} is not the output of a --shard K/N run (no info['{SHARD_KEY}'] "
            "or info['run']); merge the outputs of sharded runs"
        )
    tag = {name: first.get(name) for name in (SHARD_KEY, RUN_KEY)}
    for index, atoms in enumerate(frames):
        if any(atoms.info.get(name) != tag[name] for name in tag):
            raise ConfigError(
                f"structure {index} of {source} belongs to another shard or run "
                "than its first; the file mixes runs, merge it by hand"
            )
    # a resumed run may have asked for more: the last structures know best
    tag[UNITS_KEY] = max(int(atoms.info.get(UNITS_KEY, 0)) for atoms in frames)
    return tag, frames


def _check_one_run(shards: list[tuple[dict, list[Atoms]]]) -> str:
    """Refuse other runs, shard counts, repeated or missing shards; return the run."""
    tags = [tag for tag, _ in shards]
    run, shard = tags[0][RUN_KEY], str(tags[0][SHARD_KEY])
    count = int(shard.split("/")[1])
    seen: dict[int, int] = {}
    for k, tag in enumerate(tags):
        index, _, total = str(tag[SHARD_KEY]).partition("/")
        if tag[RUN_KEY] != run:
            raise ConfigError(
                f"input {k + 1} is a shard of run {tag[RUN_KEY]}, input 1 of run "
                f"{run} (other settings, inputs, model or seed); merge the shards "
                "of one run"
            )
        if int(total) != count:
            raise ConfigError(
                f"input {k + 1} holds shard {tag[SHARD_KEY]}, input 1 shard {shard}; "
                "merge the shards of one split"
            )
        if int(index) in seen:
            raise ConfigError(
                f"inputs {seen[int(index)] + 1} and {k + 1} both hold shard "
                f"{tag[SHARD_KEY]}; give each shard once"
            )
        seen[int(index)] = k
    units = max(int(tag.get(UNITS_KEY) or 0) for tag in tags)
    missing = [i for i in range(1, min(count, units) + 1) if i not in seen]
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise ConfigError(
            f"shard {names} of run {run} is missing; give its output too (run "
            "it first if it has not run)"
        )
    return str(run)


def _check_finished(
    merged: dict[tuple[int, ...], Atoms],
    shards: list[tuple[dict, list[Atoms]]],
    sources: list[Path],
) -> None:
    """Refuse a shard that stopped early, where the run says what it must hold.

    Every batch of samples is written whole (the run's last may be cut) and
    every family has the same size; placed batches may lose any attempt, so
    a placing shard is not checked.
    """
    first = next(iter(merged.values())).info
    count = int(str(shards[0][0][SHARD_KEY]).split("/")[1])
    units = max(int(tag[UNITS_KEY]) for tag, _ in shards)
    files = {
        int(str(tag[SHARD_KEY]).split("/")[0]): source
        for (tag, _), source in zip(shards, sources, strict=True)
    }
    missing = None
    if first.get("generator") == "diffusion":
        size = int(first["batch_size"])
        wanted = range((units - 1) * size + 1)  # the last batch: one at least
        gap = next((i for i in wanted if (i,) not in merged), None)
        if gap is not None:
            missing = (gap // size, f"sample {gap} is missing")
    elif first.get("generator") is None:  # augment: families of one size
        slots: dict[int, set[int]] = {i: set() for i in range(units)}
        for start, slot in merged:
            slots.setdefault(start, set()).add(slot)
        full = max(len(members) for members in slots.values())
        for start, members in slots.items():
            if members != set(range(full)):
                have = len(members)
                missing = (start, f"family {start} has {have} of {full} structures")
                break
    if missing is not None:
        unit, what = missing
        shard = unit % count + 1
        raise ConfigError(
            f"shard {shard}/{count} ({files.get(shard)}) is unfinished: {what}; "
            "rerun its command to finish it, then merge again"
        )


def _unit(atoms: Atoms, source: Path) -> tuple[int, ...]:
    """Return the structure's place in the one-process output (unit, slot)."""
    info = atoms.info
    try:
        if info.get("generator") == "diffusion":
            return (int(info["sample"]),)
        if info.get("generator") == "placer":
            return (int(info["attempt"]),)
        start, _, slot = str(info["id"]).rpartition("-")
        if int(start) != int(info[START_KEY]):
            raise ValueError(start)
        return (int(start), int(slot))
    except (KeyError, ValueError):
        raise DataFormatError(
            f"a structure of {source} has no sample, attempt or "
            f"'{START_KEY}'/'id' in its info; merge outputs that asegen wrote"
        ) from None


def _check_same(
    kept: Atoms, atoms: Atoms, first: Path, second: Path, key: tuple[int, ...]
) -> None:
    if not (
        np.array_equal(kept.numbers, atoms.numbers)
        and np.allclose(kept.positions, atoms.positions, rtol=0, atol=1e-6)
    ):
        name = "-".join(map(str, key))
        raise ConfigError(
            f"{first} and {second} hold different structures {name}; they are not "
            "shards of one run"
        )
