"""The rattle–relax–repeat growth of one family, slot by slot.

The growth is a generator that yields rounds of
:class:`~asegen.augment.family.Request` (structures to label) and
:class:`~asegen.augment.family.Produced` (a new member) events and receives
the labels of each round, so one code path serves every driver: one structure
at a time, many families batched into one ``calculate_batch`` call, or worker
processes.

Per child slot (spec of augment-atoms 0.2.0, sections 2.3–2.6, kept):
parent drawn with :func:`~asegen.augment.operations.parent_probabilities`,
optional cell strain, log-uniform σ, centred Gaussian rattle, then up to
``max_relax_steps`` steps of σ/i along the force directions with the
probabilistic early stop tested before the first step. Unlike the anchor, each
iterate is tested for similarity *before* it is labelled (D11), so an iterate
that would be rejected or discarded costs no calculator call; decisions are
unchanged.

Waves (``wave_width`` B): the child slots are cut into fixed waves by slot
number — slots 1…B, B+1…2B, … — and every slot of a wave picks its parents
from the *pool*, the members before the wave
(:func:`~asegen.augment.family.pool_size`). All slots of a wave are in flight
together (one request each per round), their attempts tested for similarity
against the pool only. A finished candidate is admitted in slot order, once
every earlier slot is a member, after a second similarity test against the
members admitted since the pool (its siblings). A candidate that fails it is
a rejected ("similar") attempt: the slot goes on drawing from its own stream,
parents still from the pool, and its further attempts are tested against
every member before it. Every decision is thus a function of the slot's
stream and of the members before it, so the output does not depend on
batching, workers or where a run was resumed. B = 1 is the anchor's loop, one
slot at a time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Generator
from typing import Any

import numpy as np
from ase import Atoms

from asegen._structures import fixed_mask
from asegen.augment.config import AugmentSettings
from asegen.augment.family import (
    START_KEY,
    Family,
    FamilyTask,
    Produced,
    Request,
    pool_size,
)
from asegen.augment.labels import copy_atoms, copy_labels, single_point
from asegen.augment.operations import (
    LogUniform,
    StrainDraw,
    cartesian,
    choose_index,
    complete,
    cumulative,
    early_stop_probability,
    fractional,
    max_force,
    quantize,
    rattled,
    relax_step,
    too_close,
)
from asegen.augment.streams import RandomSource, SlotStreams
from asegen.errors import ConfigError, StructureError

__all__ = ["MAX_ATTEMPTS", "grow"]

MAX_ATTEMPTS = 10_000
"""Rejected attempts in a row after which a slot gives up with an error."""
STREAMS_AHEAD = 16
"""Random streams made at once, for this many slots."""


def grow(
    task: FamilyTask, settings: AugmentSettings, streams: SlotStreams
) -> Generator[list[Request] | Produced, list[dict[str, Any]] | None, None]:
    """Grow one family to ``task.size`` members, yielding rounds and members.

    Send the labels of every request (a list of results dictionaries, in
    order) after each round and ``None`` after each :class:`Produced`.
    """
    yield from _Growth(task, settings, streams).run()


_Tested = tuple[Atoms, dict[str, Any], np.ndarray | None, np.ndarray | None]
"""A labelled structure, its labels, lattice coordinates and completed cell.

The labels go into a ``SinglePointCalculator`` only when the structure becomes
a member; the seed's lattice coordinates and completed cell are ``None``.
"""


class _Slot:
    """A slot in flight: its stream, its counts and the work filling it.

    ``checked`` is the number of leading members its attempts are tested
    against: the pool while in its wave, every member before it after a
    rejection at admission. ``work`` yields structures to label and returns
    the candidate (see :data:`_Tested`).
    """

    def __init__(self, index: int, rng: RandomSource | None, checked: int) -> None:
        self.index = index
        self.rng = rng
        self.checked = checked
        self.attempts = 0
        self.counts: Counter = Counter()
        self.pending: Atoms | None = None
        self.candidate: Atoms | None = None
        self.labels: dict[str, Any] = {}
        self.lattice: np.ndarray | None = None
        self.full: np.ndarray | None = None

    def begin(self, work: Generator[Atoms, Any, _Tested]) -> None:
        """Start ``work`` (a new one after a rejection at admission)."""
        self.work, self.candidate = work, None
        self.advance(None)

    def advance(self, labels: dict[str, Any] | None) -> None:
        """Send ``labels`` to the work; keep its next request or its candidate."""
        try:
            self.pending = self.work.send(labels)
        except StopIteration as stop:
            self.pending = None
            self.candidate, self.labels, self.lattice, self.full = stop.value

    def reject(self, reason: str) -> None:
        """Count a rejected attempt."""
        self.counts[reason] += 1


class _Growth:
    def __init__(
        self, task: FamilyTask, settings: AugmentSettings, streams: SlotStreams
    ) -> None:
        self.task = task
        self.settings = settings
        self.streams = streams
        self.kT = settings.kT
        self.family = Family(len(task.seed), task.seed.pbc)
        for atoms in task.existing:
            self.family.add(atoms)
        self.last_labelled: int | None = None  # slot of the previous request
        fixed = fixed_mask(task.seed)  # FixAtoms: never rattled nor stepped
        self._fixed = fixed if fixed.any() else None
        self._strain: StrainDraw | None = None  # around the seed member's cell
        self._sigma: LogUniform | None = None
        self._streams: dict[int, RandomSource] = {}  # made ahead, by slot

    def _stream(self, index: int) -> RandomSource | None:
        """Return the random stream of child slot ``index`` (the seed draws none).

        Streams are made :data:`STREAMS_AHEAD` slots at a time: one after the
        other they cost a fraction of one made between calculator calls.
        """
        if index == 0:
            return None
        if index not in self._streams:
            start, end = self.task.start, min(index + STREAMS_AHEAD, self.task.size)
            for k in range(index, max(end, index + 1)):
                if k not in self._streams:
                    self._streams[k] = self.streams(start, k)
        return self._streams.pop(index)

    def run(self) -> Generator[list[Request] | Produced, Any, None]:
        family, size, width = self.family, self.task.size, self.settings.wave_width
        slots: dict[int, _Slot] = {}  # in flight, by slot number
        upcoming = len(family)
        while len(family) < size:
            while upcoming < size and pool_size(upcoming, width) <= len(family):
                slots[upcoming] = self._start(upcoming)
                upcoming += 1
            busy = [slot for slot in slots.values() if slot.pending is not None]
            results = yield [self._request(slot) for slot in busy]
            for slot, labels in zip(busy, results, strict=True):
                slot.advance(labels)
            while (slot := slots.get(len(family))) and slot.candidate is not None:
                if self._admissible(slot):
                    del slots[slot.index]
                    candidate = slot.candidate
                    candidate.calc = single_point(candidate, slot.labels)
                    family.add(
                        candidate,
                        energy=None  # constraints may adjust the energy
                        if candidate.constraints
                        else slot.labels["energy"],
                        lattice=slot.lattice,
                        full=slot.full,
                    )
                    yield Produced(
                        self.task.start, slot.index, slot.candidate, slot.counts
                    )
                else:  # similar to a sibling admitted before it: try again
                    slot.reject("similar")
                    slot.checked = len(family)
                    slot.begin(self._child(slot))
                    break

    def _start(self, index: int) -> _Slot:
        slot = _Slot(
            index, self._stream(index), pool_size(index, self.settings.wave_width)
        )
        slot.begin(self._child(slot) if index else self._seed(slot))
        return slot

    def _request(self, slot: _Slot) -> Request:
        fresh = slot.index != self.last_labelled
        self.last_labelled = slot.index
        return Request(slot.pending, fresh)

    def _admissible(self, slot: _Slot) -> bool:
        """Whether the candidate is far enough from the members it was not tested on."""
        if slot.checked >= len(self.family):  # tested against all of them
            return True
        candidate = slot.candidate
        return not self.family.similar(
            candidate.positions,
            candidate.cell.array,
            self.settings.similarity_threshold,
            slice(slot.checked, None),
            full=slot.full,
            lattice=slot.lattice,
        )

    def _similar(
        self, positions: np.ndarray, full: np.ndarray, slot: _Slot
    ) -> np.ndarray | None:
        """Lattice coordinates of a candidate (completed cell ``full``), or None.

        None when the candidate is within the threshold of a member it is
        tested on.
        """
        lattice = fractional(positions, full, full=full)
        if self.family.similar(
            positions,
            full,
            self.settings.similarity_threshold,
            slice(0, slot.checked),
            full=full,
            lattice=lattice,
        ):
            return None
        return lattice

    def _label(
        self, atoms: Atoms, slot: _Slot
    ) -> Generator[Atoms, Any, tuple[dict[str, Any], float]]:
        """Label ``atoms``; return its labels and max force (NaN if not finite)."""
        results = yield atoms
        slot.counts["calls"] += 1
        labels = copy_labels(atoms, results)
        if not math.isfinite(labels["energy"]):
            return labels, float("nan")
        forces = labels["forces"]
        return labels, max_force(
            forces if self._fixed is None else forces[~self._fixed]
        )

    def _seed(self, slot: _Slot) -> Generator[Atoms, Any, _Tested]:
        start = self.task.start
        seed = self.task.seed.copy()
        if seed.pbc.any():
            seed.wrap()
        seed.positions = quantize(seed.positions)
        seed.info.pop("sigma", None)
        seed.info.update(
            {
                START_KEY: start,
                "id": f"{start}-0",
                "level": 0,
                "parent": "root",
                "relax_steps": 0,
            }
        )
        labels, force = yield from self._label(seed, slot)
        if math.isnan(force):
            raise StructureError(
                f"the calculator returned a non-finite energy or force for "
                f"starting structure {start}; check the calculator and the structure"
            )
        return seed, labels, None, None

    def _child(self, slot: _Slot) -> Generator[Atoms, Any, _Tested]:
        settings, family, rng = self.settings, self.family, slot.rng
        pbc = self.task.seed.pbc
        strain = None
        if settings.cell_sigma is not None and pbc.any():
            if self._strain is None:  # the seed member's cell never changes
                reference = family.members[0].cell.array
                self._strain = StrainDraw(reference, pbc, settings.cell_sigma)
            strain = self._strain
        if self._sigma is None:
            self._sigma = LogUniform(*settings.sigma_range)
        pool = pool_size(slot.index, settings.wave_width)
        probabilities = family.probabilities(kT=self.kT, beta=settings.beta, end=pool)
        cdf = cumulative(probabilities)
        while slot.attempts < MAX_ATTEMPTS:
            slot.attempts += 1
            index = choose_index(probabilities, rng.random(), cdf=cdf)
            parent = family.members[index]
            if strain is not None:
                cell = strain(rng.standard_normal((3, 3)))  # a new array
                full = cell if cell.any(axis=1).all() else complete(cell)
                positions = cartesian(family.lattice(index), cell, full=full)
            else:
                cell, positions = parent.cell.array, parent.positions
                full = family.full_cell(index)
            sigma = self._sigma(rng.random())
            positions = rattled(
                positions, rng.standard_normal(positions.shape), sigma, self._fixed
            )
            lattice = self._similar(positions, full, slot)
            if lattice is None:
                slot.reject("similar")  # decided on positions: no call (D11)
                continue
            child = copy_atoms(parent)
            child.set_cell(cell)
            child.positions = positions
            child.info.update(
                id=f"{self.task.start}-{slot.index}",
                parent=parent.info["id"],
                level=int(parent.info["level"]) + 1,
                sigma=sigma,
                relax_steps=0,
            )
            parent_energy = family.energy_per_atom(index)
            accepted = yield from self._relax(
                child, (lattice, full), parent_energy, sigma, slot
            )
            if accepted is not None:
                return accepted
        raise ConfigError(
            f"starting structure {self.task.start}: {MAX_ATTEMPTS} attempts in a row "
            f"were rejected ({dict(slot.counts)}); lower similarity_threshold, "
            "raise max_force or widen sigma_range"
        )

    def _relax(
        self,
        child: Atoms,
        tested: tuple[np.ndarray, np.ndarray],
        parent_energy: float,
        sigma: float,
        slot: _Slot,
    ) -> Generator[Atoms, Any, _Tested | None]:
        """Relax a child that passed the similarity test; return it or None.

        ``tested`` holds the child's lattice coordinates and completed cell,
        the cell of every iterate.
        """
        settings = self.settings
        last = settings.max_relax_steps + 1
        atoms, (lattice, full) = child, tested
        for i in range(1, last + 1):
            labels, force = yield from self._label(atoms, slot)
            if math.isnan(force):  # the calculator failed here: no use relaxing
                return slot.reject("force")
            current = (atoms, labels, lattice, full)
            if i == last:
                break
            energy = labels["energy"] / len(atoms)
            probability = early_stop_probability(energy - parent_energy, self.kT)
            if (
                force < settings.max_force
                and slot.rng.random() < probability
                and not too_close(atoms, settings.min_separation)
            ):
                return current
            positions = quantize(
                relax_step(atoms.positions, labels["forces"], sigma / i, self._fixed)
            )
            lattice = self._similar(positions, full, slot)
            if lattice is None:  # the step came too close to a member: keep this
                return self._verdict(current, force, slot, strict=True)
            atoms = copy_atoms(atoms)
            atoms.positions = positions
            atoms.info["relax_steps"] = i
        return self._verdict(current, force, slot, strict=False)

    def _verdict(
        self, tested: _Tested, force: float, slot: _Slot, *, strict: bool
    ) -> _Tested | None:
        limit = self.settings.max_force
        if not (force < limit if strict else force <= limit):
            return slot.reject("force")
        if too_close(tested[0], self.settings.min_separation):
            return slot.reject("separation")
        return tested
