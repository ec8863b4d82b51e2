"""``Augmenter``: rattle–relax–repeat dataset augmentation with any ASE calculator."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from asegen._config import from_dict
from asegen._scaleout import Shard, parse_shard
from asegen.augment.config import AugmentSettings
from asegen.augment.driver import Finished, drive
from asegen.augment.family import FamilyTask, Produced
from asegen.augment.labels import default_batch_size
from asegen.augment.parallel import drive_in_workers, drive_on_executor
from asegen.augment.resume import as_images, plan_tasks
from asegen.augment.streams import SlotStreams
from asegen.errors import ConfigError

__all__ = ["AugmentStats", "Augmenter", "Reorder"]

REASONS = ("similar", "force", "separation")


@dataclass
class AugmentStats:
    """What a run has done so far.

    Attributes
    ----------
    structures
        Structures produced (labelled seeds included).
    seeds
        Labelled seeds among them.
    calls
        Calculator evaluations (one per labelled structure or iterate).
    rejected
        Rejected attempts by reason: ``similar``, ``force``, ``separation``.
    seconds
        Time spent growing families (reading, writing and setup excluded).
    """

    structures: int = 0
    seeds: int = 0
    calls: int = 0
    rejected: Counter = field(default_factory=Counter)
    seconds: float = field(default=0.0, compare=False)

    @property
    def accepted(self) -> int:
        """New children accepted (structures minus seeds)."""
        return self.structures - self.seeds

    def add(self, event: Produced) -> None:
        """Count one produced structure and what it cost."""
        self.structures += 1
        self.seeds += event.slot == 0
        self.calls += event.counts["calls"]
        for reason in REASONS:
            self.rejected[reason] += event.counts[reason]

    def summary(self) -> str:
        """One line: accepted, rejections by reason, calls, time."""
        rejected = ", ".join(f"{r} {self.rejected[r]}" for r in REASONS)
        return (
            f"{self.structures} structures ({self.seeds} seeds, {self.accepted} "
            f"new); rejected: {rejected}; {self.calls} calculator calls; "
            f"{self.seconds:.2f} s"
        )


class Reorder:
    """Release members in canonical order: family by family, slot by slot.

    Families grown in parallel or in batches finish in any order; members of a
    family wait here until every earlier family has finished.

    Parameters
    ----------
    starts
        The starting-structure indices of the families, in output order.
    """

    def __init__(self, starts: Iterable[int]) -> None:
        self._order = deque(starts)
        self._held: dict[int, list[Atoms]] = defaultdict(list)
        self._finished: set[int] = set()

    def push(self, event: Produced | Finished) -> list[Atoms]:
        """Take one event; return the members that may be written now."""
        if isinstance(event, Produced):
            if self._order and event.start == self._order[0]:
                return [event.atoms]
            self._held[event.start].append(event.atoms)
            return []
        self._finished.add(event.start)
        ready: list[Atoms] = []
        while self._order and self._order[0] in self._finished:
            self._order.popleft()
            if self._order:
                ready += self._held.pop(self._order[0], [])
        return ready

    def held(self) -> list[Atoms]:
        """Every member still waiting (family order), e.g. to save on Ctrl-C."""
        return [atoms for start in self._order for atoms in self._held.pop(start, [])]


class Augmenter:
    """Grow a family of labelled, off-equilibrium structures per starting structure.

    augment-atoms' algorithm (its semantics kept, its defects fixed): per
    starting structure the labelled seed, then children made by picking a
    parent (Boltzmann term on per-atom energy mixed with a generation term of
    weight ``beta``), straining the cell (``cell_sigma``, periodic axes only),
    rattling positions with σ log-uniform in ``sigma_range``, and relaxing a
    few steps of σ/i along the forces with a probabilistic early stop.
    Candidates too similar to a member, with a force above ``max_force`` or a
    pair closer than ``min_separation`` are rejected.

    Parameters
    ----------
    calculator
        Any ASE calculator; one with ``calculate_batch`` (asegen's
        :class:`~asegen.calculators.ALIGNNCalculator`) labels up to
        ``batch_size`` families per call, ``wave_width`` children of each.
    workers
        Worker processes over starting structures (each gets a copy of the
        calculator); 1 runs in this process.
    batch_size
        Families grown in lockstep with a batching calculator, and structures
        per call at most (1: one structure per call). Default: the
        calculator's ``batch_size`` (asegen's torch calculators: 32 on a GPU,
        4 on a CPU), else 4.
    **settings
        :class:`~asegen.augment.config.AugmentSettings` fields
        (``n_per_structure``, ``T``, ``beta``, ``sigma_range``, ``seed``, ...).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> augmenter = Augmenter(EMT(), n_per_structure=3, seed=0)
    >>> [a.info["id"] for a in augmenter.run(bulk("Cu", cubic=True) * 2)]
    ['0-0', '0-1', '0-2']
    """

    def __init__(
        self,
        calculator: BaseCalculator,
        *,
        workers: int = 1,
        batch_size: int | None = None,
        **settings: Any,
    ) -> None:
        if not isinstance(calculator, BaseCalculator):
            raise ConfigError(
                f"calculator must be an ASE calculator, got {type(calculator).__name__}"
            )
        if batch_size is None:
            batch_size = default_batch_size(calculator)
        for name, value in (("workers", workers), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.calculator = calculator
        self.settings = from_dict(AugmentSettings, settings)
        self.workers = workers
        self.batch_size = batch_size
        self.stats = AugmentStats()
        self._streams = SlotStreams(self.settings.seed)

    def plan(
        self,
        images: Atoms | Iterable[Atoms],
        existing: Iterable[Atoms] = (),
        *,
        source: str = "",
        output: str = "",
        shard: str | Shard | None = None,
    ) -> list[FamilyTask]:
        """Check the inputs and return the families that need structures.

        Parameters
        ----------
        images
            Starting structures (one ``Atoms`` or several).
        existing
            Structures of an earlier run with these inputs.
        source
            Where ``images`` were read from, for the messages.
        output
            Where ``existing`` was read from, for the messages.
        shard
            ``"K/N"``: only the families of starting structures ``i`` with
            ``i % N == K - 1`` (see :mod:`asegen._scaleout`).

        Raises
        ------
        StructureError, DataFormatError
            For unusable starting structures (atoms closer than
            ``min_separation`` included) or existing structures that do not
            belong to them.
        """
        frames = as_images(
            images, min_separation=self.settings.min_separation, source=source
        )
        part = parse_shard(shard)
        tasks = plan_tasks(
            frames, existing, size=self.settings.n_per_structure, output=output
        )
        return [task for task in tasks if part is None or part.owns(task.start)]

    def run(
        self,
        images: Atoms | Iterable[Atoms],
        *,
        existing: Iterable[Atoms] = (),
        executor: Executor | None = None,
        shard: str | Shard | None = None,
    ) -> Iterator[Atoms]:
        """Yield the new labelled structures, family by family.

        Every family draws from its own random streams, so the structures do
        not depend on ``workers``, ``executor`` or ``shard``: the shards'
        structures together are those of one run.

        Parameters
        ----------
        images
            Starting structures (one ``Atoms`` or several).
        existing
            Structures of an earlier run with these inputs; each family is
            topped up to ``n_per_structure`` (resume).
        executor
            Grow the families as tasks of this
            :class:`concurrent.futures.Executor` (a process pool, a
            ``dask.distributed`` client's ``get_executor()``, ...) instead of
            ``workers``; the calculator is pickled to it.
        shard
            ``"K/N"``: grow only the families of starting structures ``i``
            with ``i % N == K - 1``.

        Yields
        ------
        ase.Atoms
            Labels (energy, forces; stress for 3-D periodic structures) in a
            ``SinglePointCalculator``; ``info`` holds ``starting-structure``,
            ``id`` (``"<start>-<slot>"``), ``parent`` (``"root"`` for the
            seed), ``level``, ``relax_steps`` and, for children, ``sigma``.
        """
        tasks = self.plan(images, existing, shard=shard)
        reorder = Reorder(task.start for task in tasks)
        for event in self.events(tasks, executor=executor):
            yield from reorder.push(event)

    def events(
        self, tasks: list[FamilyTask], *, executor: Executor | None = None
    ) -> Iterator[Produced | Finished]:
        """Grow ``tasks`` and yield members as accepted, updating :attr:`stats`.

        With an ``executor``, a family's members come when its task ends.
        """
        if executor is not None:
            events = drive_on_executor(
                self.calculator,
                self.settings,
                self._streams,
                tasks,
                batch_size=self.batch_size,
                executor=executor,
            )
        elif self.workers > 1 and len(tasks) > 1:
            events = drive_in_workers(
                self.calculator,
                self.settings,
                self._streams,
                tasks,
                batch_size=self.batch_size,
                workers=self.workers,
            )
        else:
            events = drive(
                self.calculator,
                self.settings,
                self._streams,
                tasks,
                batch_size=self.batch_size,
            )
        start = time.perf_counter()
        for event in events:
            self.stats.seconds += time.perf_counter() - start
            if isinstance(event, Produced):
                self.stats.add(event)
            yield event
            start = time.perf_counter()  # the consumer's time is not counted
