"""One family tree: its members, and the rattle–relax–repeat growth of its slots.

The growth is a generator that yields rounds of :class:`Request` (structures
to label) and :class:`Produced` (a new member) events and receives the labels
of each round, so one code path serves every driver: one structure at a time,
many families batched into one ``calculate_batch`` call, or worker processes.

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
from the *pool*, the members before the wave (:func:`pool_size`). All slots
of a wave are in flight together (one request each per round), their
attempts tested for similarity against the pool only. A finished candidate is
admitted in slot order, once every earlier slot is a member, after a second
similarity test against the members admitted since the pool (its siblings). A
candidate that fails it is a rejected ("similar") attempt: the slot goes on
drawing from its own stream, parents still from the pool, and its further
attempts are tested against every member before it. Every decision is thus a
function of the slot's stream and of the members before it, so the output
does not depend on batching, workers or where a run was resumed. B = 1 is the
anchor's loop, one slot at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from asegen.augment.config import AugmentSettings
from asegen.augment.labels import attach_labels
from asegen.augment.operations import (
    cartesian,
    choose_index,
    early_stop_probability,
    fractional,
    log_uniform,
    max_force,
    parent_probabilities,
    quantize,
    rattle,
    relax_step,
    similar_to_any,
    strain_cell,
    too_close,
)
from asegen.augment.streams import RandomSource, SlotStreams
from asegen.errors import ConfigError, StructureError

__all__ = [
    "MAX_ATTEMPTS",
    "START_KEY",
    "Family",
    "FamilyTask",
    "Produced",
    "Request",
    "grow",
    "pool_size",
]

START_KEY = "starting-structure"
MAX_ATTEMPTS = 10_000
"""Rejected attempts in a row after which a slot gives up with an error."""


@dataclass
class Request:
    """A structure to label; ``fresh`` unless it follows its slot's previous request.

    A driver labelling one structure at a time forgets the calculator's
    previous geometry for a fresh request, so labels never depend on what
    another slot had evaluated before.
    """

    atoms: Atoms
    fresh: bool


@dataclass
class Produced:
    """A new member of family ``start`` in ``slot``, with the counts it cost.

    ``counts`` holds the slot's ``calls`` and rejections by reason
    (``similar``, ``force``, ``separation``).
    """

    start: int
    slot: int
    atoms: Atoms
    counts: Counter


@dataclass
class FamilyTask:
    """Work for one starting structure: its seed, existing members, target size."""

    start: int
    seed: Atoms
    existing: list[Atoms] = field(default_factory=list)
    size: int = 1


class Family:
    """Members of one family with the arrays the tests run on (grown by doubling).

    Parameters
    ----------
    n_atoms
        Atoms per member (every member has the seed's atoms, in order).
    pbc
        (3,) periodic axes, shared by every member.
    """

    def __init__(self, n_atoms: int, pbc: np.ndarray) -> None:
        self.pbc = np.array(pbc, dtype=bool)
        self.members: list[Atoms] = []
        self._energy = np.empty(8)  # per atom
        self._levels = np.empty(8)
        self._fractional = np.empty((8, n_atoms, 3))

    def __len__(self) -> int:
        return len(self.members)

    def add(self, atoms: Atoms) -> None:
        """Append a labelled member (``info["level"]`` set)."""
        k = len(self.members)
        if k == len(self._energy):
            self._energy = np.resize(self._energy, 2 * k)
            self._levels = np.resize(self._levels, 2 * k)
            grown = np.empty((2 * k, *self._fractional.shape[1:]))
            grown[:k] = self._fractional
            self._fractional = grown
        self._energy[k] = atoms.get_potential_energy() / len(atoms)
        self._levels[k] = atoms.info["level"]
        self._fractional[k] = fractional(atoms.positions, atoms.cell.array)
        self.members.append(atoms)

    def energy_per_atom(self, index: int) -> float:
        """Per-atom energy of member ``index``."""
        return float(self._energy[index])

    def lattice(self, index: int) -> np.ndarray:
        """(N, 3) lattice coordinates of member ``index`` in its own cell."""
        return self._fractional[index]

    def probabilities(self, *, kT: float, beta: float, end: int) -> np.ndarray:
        """Parent-selection probabilities of the first ``end`` members."""
        return parent_probabilities(
            self._energy[:end], self._levels[:end], kT=kT, beta=beta
        )

    def similar(
        self,
        positions: np.ndarray,
        cell: np.ndarray,
        threshold: float,
        members: slice,
    ) -> bool:
        """Whether a candidate is within ``threshold`` of any of ``members``."""
        candidate = fractional(positions, cell)
        chosen = self._fractional[: len(self.members)][members]
        return similar_to_any(candidate, cell, self.pbc, chosen, threshold)


def pool_size(slot: int, width: int) -> int:
    """Members the child in ``slot`` picks its parent from: all before its wave.

    Waves of ``width`` slots are fixed by slot number (1…width,
    width+1…2·width, …), whatever the family held when a run started, so a
    resumed run redoes the unfinished part of a wave from the same pool.
    Slot 0, the seed, has none.
    """
    return 0 if slot == 0 else 1 + width * ((slot - 1) // width)


def grow(
    task: FamilyTask, settings: AugmentSettings, streams: SlotStreams
) -> Generator[list[Request] | Produced, list[dict[str, Any]] | None, None]:
    """Grow one family to ``task.size`` members, yielding rounds and members.

    Send the labels of every request (a list of results dictionaries, in
    order) after each round and ``None`` after each :class:`Produced`.
    """
    yield from _Growth(task, settings, streams).run()


class _Slot:
    """A slot in flight: its stream, its counts and the work filling it.

    ``checked`` is the number of leading members its attempts are tested
    against: the pool while in its wave, every member before it after a
    rejection at admission. ``work`` yields structures to label and returns
    the candidate.
    """

    def __init__(self, index: int, rng: RandomSource, checked: int) -> None:
        self.index = index
        self.rng = rng
        self.checked = checked
        self.attempts = 0
        self.counts: Counter = Counter()
        self.pending: Atoms | None = None
        self.candidate: Atoms | None = None

    def begin(self, work: Generator[Atoms, Any, Atoms]) -> None:
        """Start ``work`` (a new one after a rejection at admission)."""
        self.work, self.candidate = work, None
        self.advance(None)

    def advance(self, labels: dict[str, Any] | None) -> None:
        """Send ``labels`` to the work; keep its next request or its candidate."""
        try:
            self.pending = self.work.send(labels)
        except StopIteration as stop:
            self.pending, self.candidate = None, stop.value

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
                    family.add(slot.candidate)
                    yield Produced(
                        self.task.start, slot.index, slot.candidate, slot.counts
                    )
                else:  # similar to a sibling admitted before it: try again
                    slot.reject("similar")
                    slot.checked = len(family)
                    slot.begin(self._child(slot))
                    break

    def _start(self, index: int) -> _Slot:
        rng = self.streams(self.task.start, index)
        slot = _Slot(index, rng, pool_size(index, self.settings.wave_width))
        slot.begin(self._child(slot) if index else self._seed(slot))
        return slot

    def _request(self, slot: _Slot) -> Request:
        fresh = slot.index != self.last_labelled
        self.last_labelled = slot.index
        return Request(slot.pending, fresh)

    def _admissible(self, slot: _Slot) -> bool:
        """Whether the candidate is far enough from the members it was not tested on."""
        candidate = slot.candidate
        return not self.family.similar(
            candidate.positions,
            candidate.cell.array,
            self.settings.similarity_threshold,
            slice(slot.checked, None),
        )

    def _similar(self, positions: np.ndarray, cell: np.ndarray, slot: _Slot) -> bool:
        """Whether a candidate is within the threshold of a member it is tested on."""
        return self.family.similar(
            positions,
            cell,
            self.settings.similarity_threshold,
            slice(0, slot.checked),
        )

    def _label(self, atoms: Atoms, slot: _Slot) -> Generator[Atoms, Any, float]:
        """Label ``atoms`` in place; return its max force (NaN if not finite)."""
        results = yield atoms
        slot.counts["calls"] += 1
        attach_labels(atoms, results)
        if not np.isfinite(atoms.calc.results["energy"]):
            return float("nan")
        return max_force(atoms.calc.results["forces"])

    def _seed(self, slot: _Slot) -> Generator[Atoms, Any, Atoms]:
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
        if np.isnan((yield from self._label(seed, slot))):
            raise StructureError(
                f"the calculator returned a non-finite energy or force for "
                f"starting structure {start}; check the calculator and the structure"
            )
        return seed

    def _child(self, slot: _Slot) -> Generator[Atoms, Any, Atoms]:
        settings, family, rng = self.settings, self.family, slot.rng
        pbc = self.task.seed.pbc
        strain = settings.cell_sigma is not None and pbc.any()
        pool = pool_size(slot.index, settings.wave_width)
        probabilities = family.probabilities(kT=self.kT, beta=settings.beta, end=pool)
        while slot.attempts < MAX_ATTEMPTS:
            slot.attempts += 1
            index = choose_index(probabilities, rng.random())
            parent = family.members[index]
            cell, positions = parent.cell.array, parent.positions
            if strain:
                reference = family.members[0].cell.array
                normals = rng.standard_normal((3, 3))
                cell = strain_cell(reference, pbc, normals, settings.cell_sigma)
                positions = cartesian(family.lattice(index), cell)
            sigma = log_uniform(rng.random(), *settings.sigma_range)
            normals = rng.standard_normal(positions.shape)
            positions = quantize(positions + rattle(normals, sigma))
            if self._similar(positions, cell, slot):
                slot.reject("similar")  # decided on positions: no call (D11)
                continue
            child = parent.copy()
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
            accepted = yield from self._relax(child, parent_energy, sigma, slot)
            if accepted is not None:
                return accepted
        raise ConfigError(
            f"starting structure {self.task.start}: {MAX_ATTEMPTS} attempts in a row "
            f"were rejected ({dict(slot.counts)}); lower similarity_threshold, "
            "raise max_force or widen sigma_range"
        )

    def _relax(
        self, child: Atoms, parent_energy: float, sigma: float, slot: _Slot
    ) -> Generator[Atoms, Any, Atoms | None]:
        """Relax a child that passed the similarity test; return it or None."""
        settings = self.settings
        last = settings.max_relax_steps + 1
        previous: tuple[Atoms, float] | None = None
        current = child
        for i in range(1, last + 1):
            if previous is not None and self._similar(
                current.positions, current.cell.array, slot
            ):
                return self._verdict(*previous, slot, strict=True)
            force = yield from self._label(current, slot)
            if np.isnan(force):  # the calculator failed here: no use relaxing
                return slot.reject("force")
            if i == last:
                break
            energy = current.calc.results["energy"] / len(current)
            probability = early_stop_probability(energy - parent_energy, self.kT)
            if (
                force < settings.max_force
                and slot.rng.random() < probability
                and not too_close(current, settings.min_separation)
            ):
                return current
            previous = (current, force)
            current = current.copy()
            current.positions = quantize(
                relax_step(
                    current.positions, previous[0].calc.results["forces"], sigma / i
                )
            )
            current.info["relax_steps"] = i
        return self._verdict(current, force, slot, strict=False)

    def _verdict(
        self, atoms: Atoms, force: float, slot: _Slot, *, strict: bool
    ) -> Atoms | None:
        limit = self.settings.max_force
        if not (force < limit if strict else force <= limit):
            return slot.reject("force")
        if too_close(atoms, self.settings.min_separation):
            return slot.reject("separation")
        return atoms
