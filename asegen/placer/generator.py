"""``AutoregressivePlacer``: build structures atom by atom with a trained placer.

Generation follows cG-SchNet, batched over structures. Each structure starts
empty (origin at 0) or from a template (its atoms placed and available, the
origin on their centre of mass). Every iteration places one atom in each
unfinished structure:

1. pick a focus uniformly among its placed, unfinished atoms and sample the
   next type from the product of the prediction set's distributions; a
   ``stop`` finishes the focus and the structure samples again (a structure
   with no unfinished atom left is done);
2. sample the new atom's position on the grid around the focus
   (:class:`~asegen.placer.grid.ShellGrid`) at the temperature ``T``; the
   first atom of an empty structure is placed at a distance drawn from the
   tokens' distributions (no temperature), along +x.

A ``stop`` before the first atom is not allowed (an empty structure is not a
molecule). A structure with ``max_n_atoms`` atoms that still draws a type is
a failed attempt: counted, reported, not returned. Template atoms are
returned bit-identical and fixed (``FixAtoms``); periodic templates keep
their cell, and every distance the placer sees is a minimum-image one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.constraints import FixAtoms

from asegen._config import check_int
from asegen._scaleout import Shard, Shipped, parse_shard, run_ordered
from asegen.errors import ConfigError, DataFormatError
from asegen.graph import AtomsGraph, batch_graphs
from asegen.models.base import AtomisticModel
from asegen.models.gschnet import CONDITION_PREFIX, STOP, GSchNet
from asegen.models.options import resolve_device, resolve_dtype
from asegen.placer.conditions import parse_condition
from asegen.placer.grid import ShellGrid
from asegen.placer.partial import model_pairs, partial_graph
from asegen.placer.trajectory import centre_of_mass
from asegen.train import item_generator

__all__ = ["AutoregressivePlacer", "PlacedBatch"]


@dataclass
class PlacedBatch:
    """One batch of attempts: the finished structures and the failed count."""

    structures: list[Atoms]
    failed: int
    attempts: int


@dataclass
class _State:
    """One structure being built (numpy, float64)."""

    numbers: list[int]
    positions: list[np.ndarray]
    n_template: int
    finished: list[bool] = field(default_factory=list)
    done: bool = False
    failed: bool = False

    def available(self) -> list[int]:
        return [k for k, f in enumerate(self.finished) if not f]


class AutoregressivePlacer:
    """Generate structures with a trained placer; see the module docs.

    Parameters
    ----------
    model
        A :class:`~asegen.models.gschnet.GSchNet` trained by the placer task.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:0"``, ...
    dtype
        ``"float32"`` (default) or ``"float64"``.
    """

    def __init__(
        self,
        model: AtomisticModel,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float32",
    ) -> None:
        if not isinstance(model, GSchNet) or not model.atom_types:
            raise DataFormatError(
                f"{type(model).__name__} is not a trained placer; train one with "
                "asegen train placer"
            )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self._grids: dict[tuple[float, float], ShellGrid] = {}

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> AutoregressivePlacer:
        """Load a run directory or checkpoint (``kwargs`` as the constructor)."""
        from asegen.models.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path)
        return cls(model, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the grids (an executor's workers build their own)."""
        return {**self.__dict__, "_grids": {}}

    @property
    def conditions(self) -> dict[str, dict[str, Any]]:
        """The conditions the model was trained with, by name, with their kind."""
        return dict(self.model.config.conditions)

    def sample(
        self, n: int, conditions: Mapping[str, Any] | None = None, **options: Any
    ) -> list[Atoms]:
        """Return the structures finished in ``n`` attempts.

        ``options`` are those of :meth:`batches` (``executor`` included);
        failed attempts are left out (:meth:`batches` counts them).
        ``batch_size`` defaults to ``min(n, 100)``: a batch is always built
        whole, so a few attempts cost a few.
        """
        options.setdefault("batch_size", min(n, 100) if isinstance(n, int) else 100)
        out: list[Atoms] = []
        for batch in self.batches(n, conditions, **options):
            out.extend(batch.structures)
        return out

    def batches(
        self,
        n: int,
        conditions: Mapping[str, Any] | None = None,
        *,
        template: Atoms | None = None,
        max_n_atoms: int = 35,
        batch_size: int = 100,
        temperature: float = 0.1,
        grid_spacing: float = 0.05,
        grid_distance_min: float = 0.7,
        seed: int | None = None,
        start: int = 0,
        shard: str | Shard | None = None,
        executor: Executor | None = None,
    ) -> Iterator[PlacedBatch]:
        """Yield batches of attempts, ``n`` attempts in all.

        Every structure's ``info`` records the settings, the conditions,
        ``seed``, ``batch``, ``batch_size`` and ``attempt``, its attempt's
        index in the run (failed attempts leave gaps).

        Parameters
        ----------
        n
            Number of attempts.
        conditions
            A target value for every condition the model was trained with:
            numbers for scalars, sequences for vectors, a formula or
            ``{"C": 7, ...}`` for a composition.
        template
            Atoms the placer extends; they never move. Its cell and ``pbc``
            are kept.
        max_n_atoms
            Most atoms of a structure, template included.
        batch_size
            Structures built together.
        temperature
            ``T`` of the position distribution's ``p^(1/T)``.
        grid_spacing, grid_distance_min
            Spacing of the candidate grid and its smallest distance from the
            focus, Å.
        seed
            Seed of the batch streams (batch ``b`` draws from ``(seed, b)``);
            ``None``: random.
        start
            Index of the first batch (resume a run: skip earlier batches).
        shard
            ``"K/N"``: build only the batches ``b % N == K - 1``.
        executor
            Build each batch as a task of this
            :class:`concurrent.futures.Executor` (a process pool, a
            ``dask.distributed`` client's ``get_executor()``, ...); the
            structures are those built without it.
        """
        values = self._condition_rows(conditions or {})
        template = None if template is None else template.copy()
        self._check(
            n,
            template,
            max_n_atoms,
            batch_size,
            temperature,
            grid_spacing,
            grid_distance_min,
        )
        if seed is not None:
            check_int("seed", seed, 0)
        seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        part = parse_shard(shard)
        grid = (grid_spacing, grid_distance_min)
        batches = -(-n // batch_size)
        todo = [b for b in range(start, batches) if part is None or part.owns(b)]
        calls = [
            (
                batch_size,
                min(batch_size, n - b * batch_size),
                values,
                template,
                max_n_atoms,
                temperature,
                grid,
                seed,
                b,
                {
                    "generator": "placer",
                    "seed": seed,
                    "batch": b,
                    "batch_size": batch_size,
                    "placer_temperature": temperature,
                    "placer_grid_spacing": grid_spacing,
                    "placer_grid_distance_min": grid_distance_min,
                    "placer_max_n_atoms": max_n_atoms,
                    **{name: _info_value(conditions[name]) for name in values},
                },
            )
            for b in todo
        ]
        if executor is None:
            yield from (self._batch(*args) for args in calls)
        else:
            shipped = Shipped(self)
            yield from run_ordered(
                executor, _place_batch, [(shipped, *args) for args in calls]
            )

    # -- checks ------------------------------------------------------------------

    def _condition_rows(self, given: Mapping[str, Any]) -> dict[str, np.ndarray]:
        known = self.conditions
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none: it is unconditioned"
            raise ConfigError(
                "the placer was not trained with the condition(s) "
                f"{', '.join(unknown)} (its conditions: {names})"
            )
        missing = [name for name in known if name not in given]
        if missing:
            raise ConfigError(
                f"the placer was trained with the condition(s) {', '.join(missing)}; "
                "give a target value for each (e.g. --condition NAME=VALUE)"
            )
        return {name: parse_condition(name, given[name], known[name]) for name in known}

    def _check(
        self,
        n: int,
        template: Atoms | None,
        max_n_atoms: int,
        batch_size: int,
        temperature: float,
        spacing: float,
        r_min: float,
    ) -> None:
        for name, value in (
            ("n", n),
            ("max_n_atoms", max_n_atoms),
            ("batch_size", batch_size),
        ):
            if (
                not isinstance(value, int | np.integer)
                or isinstance(value, bool)
                or value < 1
            ):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("temperature", temperature), ("grid_spacing", spacing)):
            if (
                not isinstance(value, int | float)
                or not np.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        cutoff = self.model.config.placement_cutoff
        if not isinstance(r_min, int | float) or not 0 <= r_min < cutoff:
            raise ConfigError(
                f"grid_distance_min must be >= 0 and below the placement cutoff "
                f"({cutoff} Å), got {r_min!r}"
            )
        if template is not None:
            if not len(template):
                raise ConfigError("the template has no atoms; give at least one")
            if max_n_atoms <= len(template):
                raise ConfigError(
                    f"max_n_atoms ({max_n_atoms}) must exceed the template's "
                    f"{len(template)} atoms"
                )
            from asegen._structures import check_atoms

            check_atoms(template, name="the template")

    def _grid(self, spacing: float, r_min: float) -> ShellGrid:
        key = (float(spacing), float(r_min))
        if key not in self._grids:
            self._grids[key] = ShellGrid(
                spacing,
                r_min,
                self.model.config.placement_cutoff,
                self.model.bin_centres.cpu(),
            )
        return self._grids[key]

    # -- one batch ---------------------------------------------------------------

    def _batch(
        self,
        size: int,
        take: int,
        values: dict[str, np.ndarray],
        template: Atoms | None,
        max_n_atoms: int,
        temperature: float,
        spacing: tuple[float, float],
        seed: int,
        b: int,
        info: dict[str, Any],
    ) -> PlacedBatch:
        """Build batch ``b`` from its own stream of ``seed``; keep the first ``take``.

        ``spacing`` is the grid's spacing and smallest distance.
        """
        grid = self._grid(*spacing)
        generator = item_generator(seed, b)
        if template is None:
            cell, pbc = np.zeros((3, 3)), np.zeros(3, dtype=bool)
            origin = np.zeros(3)
            states = [_State([], [], 0) for _ in range(size)]
        else:
            cell = template.cell.array.astype(np.float64)
            pbc = np.array(template.pbc, dtype=bool)
            origin = centre_of_mass(template.numbers, template.positions)
            states = [
                _State(
                    [int(z) for z in template.numbers],
                    [p.copy() for p in template.positions.astype(np.float64)],
                    len(template),
                    [False] * len(template),
                )
                for _ in range(size)
            ]
        labels = {
            CONDITION_PREFIX + name: torch.from_numpy(value[None].astype(np.float64))
            for name, value in values.items()
        }
        cell_t, pbc_t = torch.from_numpy(cell), torch.from_numpy(pbc)
        while True:
            pending = [m for m, s in enumerate(states) if not (s.done or s.failed)]
            if not pending:
                break
            while pending:  # one atom in each; a structure that stops samples again
                foci = [self._focus(states[m], generator) for m in pending]
                graphs = [
                    self._graph(states[m], focus, cell, pbc, origin, labels)
                    for m, focus in zip(pending, foci, strict=True)
                ]
                batch = batch_graphs([g for g, _ in graphs]).to(self.device, self.dtype)
                with torch.no_grad():
                    h, nodes = self.model.member_features(batch)
                    owner = batch.batch[nodes]
                    log_types = self.model.type_log_probs(h, owner, len(graphs))
                log_types = log_types.double().cpu()
                empty = torch.tensor([not states[m].numbers for m in pending])
                log_types[empty, 0] = -torch.inf  # no stop before the first atom
                drawn = torch.multinomial(log_types.exp(), 1, generator=generator)
                classes = [STOP, *self.model.atom_types]
                again, placing = [], []
                for row, m in enumerate(pending):
                    s, z = states[m], classes[int(drawn[row, 0])]
                    if z == STOP:
                        s.finished[foci[row]] = True
                        s.done = not s.available()
                        if not s.done:
                            again.append(m)
                    elif len(s.numbers) >= max_n_atoms:
                        s.failed = True
                    else:
                        placing.append((row, m, z))
                if placing:
                    with torch.no_grad():
                        rows = torch.tensor([row for row, _, _ in placing])
                        types = torch.zeros(len(graphs), dtype=torch.long)
                        types[rows] = torch.tensor([z for _, _, z in placing])
                        types = types.to(owner.device)
                        log_d = self.model.distance_log_probs(h, types[owner])
                    log_d, owner_cpu = log_d.float().cpu(), owner.cpu()
                    for row, m, z in placing:
                        position = self._position(
                            states[m],
                            foci[row],
                            graphs[row][1],
                            log_d[owner_cpu == row],
                            origin,
                            cell_t,
                            pbc_t,
                            temperature,
                            grid,
                            generator,
                        )
                        states[m].numbers.append(z)
                        states[m].positions.append(position)
                        states[m].finished.append(False)
                pending = again
        # a batch is always built whole, so that its structures do not depend
        # on how many attempts are asked for; the first ``take`` count
        states = states[:take]
        structures = []
        for m, s in enumerate(states):
            if not s.done:
                continue
            atoms = Atoms(
                s.numbers, positions=np.array(s.positions), cell=cell, pbc=pbc
            )
            if template is not None:
                atoms.positions[: s.n_template] = template.positions
                atoms.set_constraint(FixAtoms(indices=range(s.n_template)))
            atoms.info.update(info)
            atoms.info["n_template"] = s.n_template
            atoms.info["attempt"] = b * size + m
            structures.append(atoms)
        failed = sum(s.failed for s in states)
        return PlacedBatch(structures, failed, take)

    @staticmethod
    def _focus(state: _State, generator: torch.Generator) -> int:
        """Draw a focus among the unfinished atoms (``-1`` before the first)."""
        free = state.available()
        if not free:
            return -1
        return free[int(torch.randint(len(free), (1,), generator=generator))]

    def _graph(
        self,
        state: _State,
        focus: int,
        cell: np.ndarray,
        pbc: np.ndarray,
        origin: np.ndarray,
        labels: dict[str, torch.Tensor],
    ) -> tuple[AtomsGraph, np.ndarray]:
        """Return the partial structure's graph and its members."""
        config = self.model.config
        positions = np.array(state.positions).reshape(-1, 3)
        graph, members = partial_graph(
            positions,
            np.array(state.numbers, dtype=np.int64),
            cell,
            pbc,
            origin,
            focus,
            model_pairs(positions, cell, pbc, config.model_cutoff),
            config.prediction_cutoff,
        )
        return graph.with_labels(structure=labels), members

    def _position(
        self,
        state: _State,
        focus: int,
        members: np.ndarray,
        log_d: torch.Tensor,
        origin: np.ndarray,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        temperature: float,
        grid: ShellGrid,
        generator: torch.Generator,
    ) -> np.ndarray:
        """Draw the new atom's position from the members' distance log-probs.

        ``log_d`` has the rows of the focus token, the origin token and the
        members, in that order.
        """
        if focus < 0:  # the first atom: a radius from the tokens, along +x
            centres = self.model.bin_centres.double().cpu()
            r = torch.multinomial(log_d.sum(0).softmax(0), 1, generator=generator)
            return origin + np.array([float(centres[r[0]]), 0.0, 0.0])
        placed = torch.from_numpy(np.array(state.positions).reshape(-1, 3))
        placed = placed.to(log_d.dtype)
        references = torch.cat(
            [
                placed[focus][None],
                torch.from_numpy(origin)[None].to(placed),
                placed[members],
            ]
        )
        position = grid.sample(
            placed[focus], references, log_d, cell, pbc, temperature, generator
        )
        return position.numpy().astype(np.float64)


def _place_batch(shipped: Shipped, *args: Any) -> PlacedBatch:
    """Build one batch in an executor's worker (``args`` as ``_batch``)."""
    return shipped.get()._batch(*args)


def _info_value(value: Any) -> Any:
    """Return a condition's target as ``atoms.info`` stores it."""
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping):
        return "".join(f"{k}{v}" for k, v in value.items())
    return [float(v) for v in np.asarray(value).reshape(-1)]
