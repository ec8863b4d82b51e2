"""One family tree: its members, and the rattle–relax–repeat growth of its slots.

The growth is a generator that yields :class:`Request` (a structure to label)
and :class:`Produced` (a new member) events and receives the labels of each
request, so one code path serves every driver: one structure at a time, many
families batched into one ``calculate_batch`` call, or worker processes.

Per child slot (spec of augment-atoms 0.2.0, sections 2.3–2.6, kept):
parent drawn with :func:`~asegen.augment.operations.parent_probabilities`,
optional cell strain, log-uniform σ, centred Gaussian rattle, then up to
``max_relax_steps`` steps of σ/i along the force directions with the
probabilistic early stop tested before the first step. Unlike the anchor, each
iterate is tested for similarity *before* it is labelled (D11), so an iterate
that would be rejected or discarded costs no calculator call; decisions are
unchanged.
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
]

START_KEY = "starting-structure"
MAX_ATTEMPTS = 10_000
"""Rejected attempts in a row after which a slot gives up with an error."""


@dataclass
class Request:
    """A structure the driver must label, ``fresh`` at the start of a slot."""

    atoms: Atoms
    fresh: bool


@dataclass
class Produced:
    """A new member of family ``start`` in ``slot``, with the counts it cost.

    ``counts`` holds ``calls`` and rejections by reason (``similar``,
    ``force``, ``separation``) since the previous member of the family.
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

    def probabilities(self, *, kT: float, beta: float) -> np.ndarray:
        """Parent-selection probabilities of the members (Boltzmann/generation)."""
        k = len(self.members)
        return parent_probabilities(
            self._energy[:k], self._levels[:k], kT=kT, beta=beta
        )

    def similar(
        self, positions: np.ndarray, cell: np.ndarray, threshold: float
    ) -> bool:
        """Whether a candidate is within ``threshold`` of any member (vectorised)."""
        candidate = fractional(positions, cell)
        members = self._fractional[: len(self.members)]
        return similar_to_any(candidate, cell, self.pbc, members, threshold)


def grow(
    task: FamilyTask, settings: AugmentSettings, streams: SlotStreams
) -> Generator[Request | Produced, dict[str, Any] | None, None]:
    """Grow one family to ``task.size`` members, yielding requests and members.

    Send the labels (a results dictionary) after each :class:`Request` and
    ``None`` after each :class:`Produced`.
    """
    yield from _Growth(task, settings, streams).run()


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
        self.counts: Counter = Counter()
        self.fresh = True

    def run(self) -> Generator[Request | Produced, Any, None]:
        family = self.family
        if not family.members:
            yield from self._produce((yield from self._seed()), 0)
        while len(family) < self.task.size:
            slot = len(family)
            child = yield from self._child(slot, self.streams(self.task.start, slot))
            yield from self._produce(child, slot)

    def _produce(self, atoms: Atoms, slot: int) -> Generator[Produced, Any, None]:
        self.family.add(atoms)
        counts, self.counts = self.counts, Counter()
        self.fresh = True
        yield Produced(self.task.start, slot, atoms, counts)

    def _label(self, atoms: Atoms) -> Generator[Request, Any, float]:
        """Label ``atoms`` in place; return its max force (NaN if not finite)."""
        results = yield Request(atoms, self.fresh)
        self.fresh = False
        self.counts["calls"] += 1
        attach_labels(atoms, results)
        if not np.isfinite(atoms.calc.results["energy"]):
            return float("nan")
        return max_force(atoms.calc.results["forces"])

    def _seed(self) -> Generator[Request, Any, Atoms]:
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
        if np.isnan((yield from self._label(seed))):
            raise StructureError(
                f"the calculator returned a non-finite energy or force for "
                f"starting structure {start}; check the calculator and the structure"
            )
        return seed

    def _child(self, slot: int, rng: RandomSource) -> Generator[Request, Any, Atoms]:
        settings, family = self.settings, self.family
        pbc = self.task.seed.pbc
        strain = settings.cell_sigma is not None and pbc.any()
        probabilities = family.probabilities(kT=self.kT, beta=settings.beta)
        for _ in range(MAX_ATTEMPTS):
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
            if family.similar(positions, cell, settings.similarity_threshold):
                self._reject("similar")  # decided on positions: no call (D11)
                continue
            child = parent.copy()
            child.set_cell(cell)
            child.positions = positions
            child.info.update(
                id=f"{self.task.start}-{slot}",
                parent=parent.info["id"],
                level=int(parent.info["level"]) + 1,
                sigma=sigma,
                relax_steps=0,
            )
            parent_energy = family.energy_per_atom(index)
            accepted = yield from self._relax(child, parent_energy, sigma, rng)
            if accepted is not None:
                return accepted
        raise ConfigError(
            f"starting structure {self.task.start}: {MAX_ATTEMPTS} attempts in a row "
            f"were rejected ({dict(self.counts)}); lower similarity_threshold, "
            "raise max_force or widen sigma_range"
        )

    def _relax(
        self, child: Atoms, parent_energy: float, sigma: float, rng: RandomSource
    ) -> Generator[Request, Any, Atoms | None]:
        """Relax a child that passed the similarity test; return it or None."""
        settings, family = self.settings, self.family
        last = settings.max_relax_steps + 1
        previous: tuple[Atoms, float] | None = None
        current = child
        for i in range(1, last + 1):
            if previous is not None and family.similar(
                current.positions, current.cell.array, settings.similarity_threshold
            ):
                return self._verdict(*previous, strict=True)
            force = yield from self._label(current)
            if np.isnan(force):  # the calculator failed here: no use relaxing
                return self._reject("force")
            if i == last:
                break
            energy = current.calc.results["energy"] / len(current)
            probability = early_stop_probability(energy - parent_energy, self.kT)
            if (
                force < settings.max_force
                and rng.random() < probability
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
        return self._verdict(current, force, strict=False)

    def _verdict(self, atoms: Atoms, force: float, *, strict: bool) -> Atoms | None:
        limit = self.settings.max_force
        if not (force < limit if strict else force <= limit):
            return self._reject("force")
        if too_close(atoms, self.settings.min_separation):
            return self._reject("separation")
        return atoms

    def _reject(self, reason: str) -> None:
        self.counts[reason] += 1
        return None
