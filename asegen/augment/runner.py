"""Run an augment-atoms config: read, grow, append to the output, report."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np

from asegen._scaleout import (
    RUN_KEY,
    SHARD_KEY,
    UNITS_KEY,
    check_resumed_shard,
    fingerprint,
    parse_shard,
)
from asegen.augment.augmenter import REASONS, Augmenter, AugmentStats, Reorder
from asegen.augment.config import load_config
from asegen.augment.driver import uses_batches
from asegen.augment.family import FamilyTask, Produced
from asegen.augment.io import (
    OutputWriter,
    output_format,
    output_lock,
    read_existing,
    read_inputs,
)
from asegen.augment.labels import calculator_failed, copy_labels, label_batch, label_one
from asegen.errors import StructureError

__all__ = ["run_config"]


def run_config(
    config: str | os.PathLike | Mapping[str, Any],
    *,
    workers: int = 1,
    batch_size: int | None = None,
    overrides: Iterable[str] = (),
    progress: bool = False,
    executor: Executor | None = None,
    shard: str | None = None,
) -> AugmentStats:
    """Augment ``data.input`` into ``data.output`` as an augment-atoms config says.

    Everything is checked before the output is touched: the config, the
    calculator spec, the input, an existing output (which is topped up to
    ``n_per_structure`` per starting structure) and the calculator itself, on
    one starting structure per set of elements and periodicity. The output is
    created by the first structure written; new structures are appended and
    flushed one by one, in family order; on an interruption the structures
    finished but not yet written (other workers' families) are written too.
    Only one run at a time may write an output (see
    :func:`~asegen.augment.io.output_lock`).

    Parameters
    ----------
    config
        A YAML/JSON file or the same content as a mapping.
    workers
        Worker processes over starting structures.
    batch_size
        Families grown in lockstep, and structures per call at most, with a
        calculator that has ``calculate_batch``; default: the calculator's
        ``batch_size`` (32 on a GPU, 4 on a CPU for asegen's), else 4.
    overrides
        ``section.key=value`` strings applied to the config.
    progress
        Show a progress bar on stderr (when it is a terminal).
    executor
        Grow the families as tasks of this
        :class:`concurrent.futures.Executor` instead of ``workers``.
    shard
        ``"K/N"``: grow only the families of starting structures ``i`` with
        ``i % N == K - 1`` into ``data.output``, recording ``info["shard"]``
        and ``info["run"]`` (the run's fingerprint) for ``asegen merge``.

    Returns
    -------
    AugmentStats
        Structures written, calculator calls and rejections by reason.
    """
    part = parse_shard(shard)
    settings = load_config(config, overrides=overrides)
    fmt = output_format(settings.data.output)
    images = read_inputs(settings.data.input)
    augmenter = Augmenter(
        settings.calculator,
        workers=workers,
        batch_size=batch_size,
        **dataclasses.asdict(settings.config),
    )
    tag: dict[str, Any] = {}
    if part is not None:
        run = _fingerprint(augmenter, images)
        tag = {SHARD_KEY: str(part), RUN_KEY: run, UNITS_KEY: len(images)}
    output = settings.data.output
    with output_lock(output):
        existing = read_existing(output, fmt)
        if existing:
            check_resumed_shard(existing[0].info, part, tag.get(RUN_KEY, ""), output)
        tasks = augmenter.plan(
            images,
            existing,
            source=str(settings.data.input),
            output=str(output),
            shard=part,
        )
        _try_calculator(augmenter, tasks, str(settings.data.input))
        if tasks:
            _grow(
                augmenter, tasks, output, fmt, progress=progress, executor=executor,
                tag=tag,
            )  # fmt: skip
    return augmenter.stats


def _fingerprint(augmenter: Augmenter, images: list) -> str:
    """Hash the run's settings (but the family size), calculator and inputs.

    The family size is left out: members do not depend on it, and a larger
    ``n_per_structure`` tops every family up.
    """
    settings = dataclasses.asdict(augmenter.settings)
    del settings["n_per_structure"]
    calculator = augmenter.calculator
    model = getattr(calculator, "model", None)  # a torch calculator's weights
    return fingerprint(
        "augment",
        settings,
        type(calculator).__qualname__,
        getattr(calculator, "parameters", {}),
        model.state_dict() if hasattr(model, "state_dict") else None,
        images,
    )


def _try_calculator(augmenter: Augmenter, tasks: list[FamilyTask], source: str) -> None:
    """Label one starting structure per set of elements and periodicity.

    A calculator that cannot handle the input (EMT given Si) fails here, as
    one line naming the structure, before anything is written. A shallow copy
    does the work, so what a calculator sets up on its first call (EMT's
    tables, which cannot be pickled) stays out of the one sent to workers.

    Raises
    ------
    StructureError
        If the calculator raises, or returns a non-finite energy or force.
    """
    calculator = copy.copy(augmenter.calculator)
    tried: set[tuple[frozenset[int], tuple[bool, ...]]] = set()
    for task in tasks:
        seed = task.seed
        kind = (frozenset(seed.numbers.tolist()), tuple(seed.pbc.tolist()))
        if kind in tried:
            continue
        tried.add(kind)
        what = f"starting structure {task.start} of {source}"
        try:
            if uses_batches(calculator, augmenter.batch_size):
                (results,) = label_batch(calculator, [seed.copy()])
            else:
                results = label_one(calculator, seed.copy(), fresh=True)
            labels = copy_labels(seed, results)
        except Exception as err:
            raise calculator_failed(
                calculator,
                err,
                what,
                "use a calculator made for these elements, or remove the structure",
            ) from err
        if not (np.isfinite(labels["energy"]) and np.isfinite(labels["forces"]).all()):
            raise StructureError(
                f"the calculator returned a non-finite energy or force for {what}; "
                "check the calculator and the structure"
            )


def _grow(
    augmenter: Augmenter,
    tasks: list[FamilyTask],
    output: str | os.PathLike,
    fmt: str,
    *,
    progress: bool,
    executor: Executor | None,
    tag: dict[str, Any],
) -> None:
    """Write the new structures in family order (``tag`` in their info)."""
    from tqdm import tqdm

    stats = augmenter.stats
    reorder = Reorder(task.start for task in tasks)
    bar = tqdm(
        total=sum(task.size - len(task.existing) for task in tasks),
        unit=" structures",
        file=sys.stderr,
        disable=None if progress else True,  # None: off when not a terminal
    )
    with OutputWriter(output, fmt) as writer, bar:
        try:
            for event in augmenter.events(tasks, executor=executor):
                for atoms in reorder.push(event):
                    atoms.info.update(tag)
                    writer.write(atoms)
                if isinstance(event, Produced) and not bar.disable:
                    bar.update()
                    rejected = ", ".join(f"{r} {stats.rejected[r]}" for r in REASONS)
                    bar.set_postfix_str(
                        f"accepted {stats.accepted}, rejected: {rejected}",
                        refresh=False,
                    )
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to see
                for atoms in reorder.held():
                    atoms.info.update(tag)
                    writer.write(atoms)
            raise
