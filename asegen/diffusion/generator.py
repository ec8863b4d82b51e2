"""``DiffusionGenerator``: sample ``ase.Atoms`` from a trained score model.

>>> gen = DiffusionGenerator.load("logs/version_0")  # doctest: +SKIP
>>> crystals = gen.sample(16, formula="Pd4O4", seed=0)  # doctest: +SKIP
>>> filled = gen.sample(
...     8, template=slab, formula="Pd2O2", confinement=(9.5, 13)
... )  # doctest: +SKIP

What a call needs follows from what the model generates:

- the atoms to add: ``n_atoms``, else ``len(atomic_numbers)``, else the size
  of ``formula``. With type diffusion a formula (or the list of atomic
  numbers) fixes the composition *exactly*; ``n_atoms`` alone leaves the
  elements to the model. Without type diffusion the elements must be given.
  With a ``template``, these describe the atoms added to it.
- a cell, unless the model generates cells (a given cell or a template's
  then wins) or the structures are molecules (gas phase).
- for surface models, the confinement window: the argument, else the
  template's ``info["confinement"]``, else the training window placed on the
  template's highest atom (the offsets the model kept from its training
  structures), else the training default.

A missing or impossible requirement is one :class:`~asegen.errors.ConfigError`
line naming it. Template atoms are held fixed throughout and returned
bit-identical, with a ``FixAtoms`` constraint.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.cell import Cell
from ase.constraints import FixAtoms
from ase.data import chemical_symbols

from asegen._formula import parse_formula
from asegen._scaleout import Shard, Shipped, parse_shard, run_ordered
from asegen._structures import check_atoms, fixed_mask
from asegen.diffusion.graphs import EdgeCache, state_graph, to_atoms
from asegen.diffusion.positions import CONFINEMENT
from asegen.diffusion.process import Process
from asegen.diffusion.sampler import denoise, progress_bar
from asegen.diffusion.types import COMPOSITION
from asegen.errors import ConfigError, DataFormatError, StructureError
from asegen.models.base import AtomisticModel
from asegen.models.options import resolve_device, resolve_dtype

__all__ = ["DiffusionGenerator", "check_template", "parse_cell", "parse_formula"]


def check_template(template: Atoms, name: str = "the template") -> None:
    """Refuse a template with non-finite positions, a degenerate cell or a non-element.

    Raises
    ------
    asegen.errors.StructureError
        Naming ``name``, the atom and the fault.
    """
    check_atoms(template, name=name)
    numbers = template.numbers
    bad = np.flatnonzero((numbers < 1) | (numbers >= len(chemical_symbols)))
    if bad.size:
        raise StructureError(
            f"{name} has atomic number {numbers[bad[0]]} (atom {bad[0]}), which is "
            "no element; fix the template"
        )


def parse_cell(cell: Any) -> np.ndarray:
    """Return a ``(3, 3)`` cell from 3 lengths, 6 lengths and angles, or 9 numbers."""
    try:
        values = np.asarray(cell.array if isinstance(cell, Cell) else cell, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(
            f"cannot read the cell {cell!r}; give 3, 6 or 9 numbers"
        ) from None
    if not np.isfinite(values).all():
        raise ConfigError(f"the cell {values.ravel().tolist()} holds a NaN or infinity")
    if values.size in (3, 6):
        if (values.ravel()[:3] <= 0).any():
            raise ConfigError(
                f"the cell lengths {values.ravel()[:3].tolist()} must be positive"
            )
        values = Cell.new(values.ravel()).array
    elif values.size == 9:
        values = values.reshape(3, 3)
    else:
        raise ConfigError(
            f"a cell is 3 lengths, 6 lengths and angles or a 3x3 matrix; got "
            f"{values.size} numbers"
        )
    if abs(np.linalg.det(values)) < 1e-6:
        raise ConfigError(f"the cell {values.tolist()} has no volume; give a real cell")
    return values


class DiffusionGenerator:
    """Generate structures with a trained score model; see the module docs.

    Parameters
    ----------
    model
        A score model trained by the diffusion task (it carries its process).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:0"``, ...
    dtype
        ``"float32"`` (default) or ``"float64"`` (or a torch dtype).
    skin
        Neighbour-list skin, Å: a structure's neighbours are searched again
        only when one of its atoms moved more than half of it.
    """

    def __init__(
        self,
        model: AtomisticModel,
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str = "float32",
        skin: float = 1.0,
    ) -> None:
        process = getattr(model, "process", None)
        if model.task != "diffusion" or not process:
            raise DataFormatError(
                f"{type(model).__name__} was not trained by the diffusion task; "
                "train one with asegen train diffusion"
            )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.process = Process.from_hparams(process)
        self.skin = skin

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> DiffusionGenerator:
        """Load a run directory or checkpoint (``kwargs`` as the constructor)."""
        from asegen.models.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path)
        return cls(model, **kwargs)

    @property
    def elements(self) -> list[str]:
        """The elements the model generates (its training elements)."""
        return [chemical_symbols[z] for z in self.process.vocabulary]

    def sample(
        self,
        n_samples: int = 1,
        *,
        formula: str | None = None,
        atomic_numbers: Sequence[int] | None = None,
        n_atoms: int | None = None,
        cell: Any = None,
        template: Atoms | None = None,
        confinement: Sequence[float] | None = None,
        property: Mapping[str, float] | None = None,
        guidance: float = 1.0,
        steps: int | None = None,
        corrector: bool = True,
        seed: int | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        executor: Executor | None = None,
    ) -> list[Atoms]:
        """Return ``n_samples`` new structures (see the module docs).

        Parameters
        ----------
        n_samples
            How many structures.
        formula, atomic_numbers, n_atoms
            The atoms to generate (added to ``template`` if given).
        cell
            3 lengths, 6 lengths and angles, a 3x3 matrix or an ASE cell.
        template
            Structure whose atoms stay fixed; new atoms are appended.
        confinement
            ``(lo, hi)`` heights (Å) for surface models; default: the
            template's ``info["confinement"]``, else the training window
            above the template's highest atom (see the module docs).
        property
            Conditioning values by property name (raw units).
        guidance
            Classifier-free guidance weight: 1 conditional, 0 unconditional,
            above 1 pushes harder toward the property.
        steps
            Reverse steps from ``t = 1`` to ``t_min``; default the model's:
            60 when it was trained with focused times (``time_focus``, the
            default), else 100.
        corrector
            Add a Langevin corrector step after every predictor step.
        seed
            Seed of every random draw; the same seed and batch size give the
            same structures.
        batch_size
            Structures integrated together in one graph; default
            ``min(n_samples, 32)``, so a few samples cost a few (a batch is
            always built whole: the same seed gives the same structures for
            the same batch size).
        progress
            Show a progress bar (default: on a terminal).
        executor
            Draw each batch as a task of this
            :class:`concurrent.futures.Executor` (a process pool, a
            ``dask.distributed`` client's ``get_executor()``, ...); the
            samples are those drawn without it.
        """
        return [
            atoms
            for batch in self.batches(
                n_samples,
                formula=formula,
                atomic_numbers=atomic_numbers,
                n_atoms=n_atoms,
                cell=cell,
                template=template,
                confinement=confinement,
                property=property,
                guidance=guidance,
                steps=steps,
                corrector=corrector,
                seed=seed,
                batch_size=batch_size or min(n_samples, 32),
                progress=progress,
                executor=executor,
            )
            for atoms in batch
        ]

    def batches(
        self,
        n_samples: int,
        *,
        start: int = 0,
        seed: int | None = None,
        batch_size: int = 32,
        steps: int | None = None,
        corrector: bool = True,
        guidance: float = 1.0,
        progress: bool | None = None,
        shard: str | Shard | None = None,
        executor: Executor | None = None,
        **request: Any,
    ) -> Iterator[list[Atoms]]:
        """Yield the samples of :meth:`sample` batch by batch, from batch ``start``.

        Batch ``k`` draws from its own stream of ``seed`` and is always drawn
        whole (the last one is cut), so sample ``i`` depends only on the
        seed, the batch size and ``i``: a caller that stored the first ``k``
        batches resumes with ``start=k``, shard ``"K/N"`` draws the batches
        ``k % N == K - 1`` only, and an ``executor`` draws each batch as one
        of its tasks (the generator is pickled to it once). Every
        structure's ``info`` records ``generator``, ``seed``, ``batch``,
        ``batch_size``, ``steps``, ``guidance``, ``target_<name>`` of each
        conditioning value, ``sample``, its index ``i``, and for surface
        models the window it was drawn in, ``confinement``.
        """
        if steps is None:
            steps = self.process.sampling_steps
        for name, value in (
            ("n_samples", n_samples),
            ("batch_size", batch_size),
            ("steps", steps),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if seed is not None and seed < 0:
            raise ConfigError(f"seed must be 0 or more, got {seed}")
        if not math.isfinite(guidance):
            raise ConfigError(f"guidance must be a finite number, got {guidance}")
        part = parse_shard(shard)
        initial, labels, fields = self._request(**request)
        seed = int(torch.randint(2**31, ()).item()) if seed is None else int(seed)
        counts = [
            min(batch_size, n_samples - lo) for lo in range(0, n_samples, batch_size)
        ]
        todo = [k for k in range(start, len(counts)) if part is None or part.owns(k)]
        recorded: dict[str, Any] = {
            f"target_{name}": float(value)
            for name, value in (request.get("property") or {}).items()
        }
        if CONFINEMENT in labels:  # the window used, wherever it came from
            recorded[CONFINEMENT] = labels[CONFINEMENT][0].tolist()
        infos = [
            {
                "generator": "diffusion",
                "seed": seed,
                "batch": k,
                "batch_size": batch_size,
                "steps": steps,
                "guidance": guidance,
                **recorded,
            }
            for k in todo
        ]
        # every batch is drawn whole, so that sample i depends only on the
        # seed, the batch size and i (and a resumed run or a shard matches)
        args = (initial, labels, fields, batch_size, steps, corrector, guidance, seed)
        bar = progress_bar(len(todo) * steps, progress)
        if executor is None:
            drawn = (
                self._batch(*args, k, info, update=bar.update)
                for k, info in zip(todo, infos, strict=True)
            )
        else:
            shipped = Shipped(self)
            calls = [
                (shipped, *args, k, info) for k, info in zip(todo, infos, strict=True)
            ]
            drawn = run_ordered(executor, _draw_batch, calls)
        try:
            for k, batch in zip(todo, drawn, strict=True):
                if executor is not None:
                    bar.update(steps)
                for i, atoms in enumerate(batch[: counts[k]]):
                    atoms.info["sample"] = k * batch_size + i
                yield batch[: counts[k]]
        finally:
            bar.close()

    # -- building the request ----------------------------------------------------

    def _request(
        self,
        *,
        formula: str | None = None,
        atomic_numbers: Sequence[int] | None = None,
        n_atoms: int | None = None,
        cell: Any = None,
        template: Atoms | None = None,
        confinement: Sequence[float] | None = None,
        property: Mapping[str, float] | None = None,
    ) -> tuple[Atoms, dict[str, torch.Tensor], tuple[str, ...]]:
        """Validate a request: the starting structure, its labels and the fields."""
        process = self.process
        new = self._new_numbers(formula, atomic_numbers, n_atoms)
        start = template.copy() if template is not None else Atoms(pbc=process.pbc)
        if template is not None:
            check_template(template)
            start.set_constraint(FixAtoms(indices=range(len(template))))
        fields = [f for f in ("cell", "positions", "types") if f in process.noisers]
        if cell is not None:
            start.set_cell(parse_cell(cell))
        if cell is not None or template is not None:
            if "cell" in fields:
                fields.remove("cell")  # a given cell is kept
        elif any(process.pbc) and "cell" not in fields:
            raise ConfigError(
                "this model does not generate cells; give one with cell= (--cell "
                "a,b,c | a,b,c,alpha,beta,gamma | FILE) or a template"
            )
        if any(start.pbc) and "cell" not in fields and start.cell.rank < sum(start.pbc):
            raise ConfigError(
                "the template has no cell along its periodic axes; give cell="
            )
        placeholder = [0 if z is None else z for z in new]
        start += Atoms(numbers=placeholder, positions=np.zeros((len(new), 3)))
        labels: dict[str, torch.Tensor] = {}
        if "types" in fields and None not in new:
            vocabulary = process.vocabulary
            counts = [sum(1 for z in new if z == v) for v in vocabulary]
            labels[COMPOSITION] = torch.tensor([counts], dtype=torch.int64)
        surface = process.pbc == (True, True, False)
        if confinement is not None and not surface:
            raise ConfigError(
                f"confinement {list(confinement)} applies to surface models only; "
                "this model generates whole structures: leave it out"
            )
        if surface:
            window = confinement
            if window is None and template is not None:
                window = template.info.get(CONFINEMENT)
                if window is None:
                    window = process.window_above(template)
            window = process.confinement if window is None else window
            if window is None:
                raise ConfigError(
                    "a surface model needs the confinement window: give "
                    "confinement=(lo, hi) in Å along the surface normal"
                )
            if len(window) != 2 or not window[0] < window[1]:
                raise ConfigError(
                    f"the confinement window {list(window)} is not (lo, hi) with "
                    "lo < hi in Å along the surface normal"
                )
            labels[CONFINEMENT] = torch.tensor(
                [list(map(float, window))], dtype=torch.float64
            )
        for name in process.properties:
            value = float("nan")
            if property and name in property:
                value = process.standardise(name, property[name])
            labels[f"property:{name}"] = torch.tensor([[value]])
        unknown = sorted(set(property or {}) - set(process.properties))
        if unknown:
            raise ConfigError(
                f"the model is not conditioned on {unknown}; it knows "
                f"{sorted(process.properties) or 'no property'}"
            )
        return start, labels, tuple(fields)

    def _new_numbers(
        self,
        formula: str | None,
        atomic_numbers: Sequence[int] | None,
        n_atoms: int | None,
    ) -> list[int | None]:
        """Atomic numbers of the atoms to generate (``None``: the model chooses)."""
        given = None
        if atomic_numbers is not None:
            given = [int(z) for z in atomic_numbers]
        elif formula is not None:
            given = parse_formula(formula)
        if given is not None and n_atoms is not None and len(given) != n_atoms:
            raise ConfigError(
                f"n_atoms is {n_atoms} but the formula or atomic numbers hold "
                f"{len(given)} atoms; give one of them"
            )
        if given is None:
            if n_atoms is None or n_atoms < 1:
                raise ConfigError(
                    "say how many atoms to generate: formula=, atomic_numbers= or "
                    "n_atoms="
                )
            if "types" not in self.process.noisers:
                raise ConfigError(
                    "this model does not generate atom types; give formula= or "
                    "atomic_numbers="
                )
            return [None] * n_atoms
        if "types" in self.process.noisers:
            outside = sorted({z for z in given if z not in self.process.vocabulary})
            if outside:
                raise ConfigError(
                    f"the model never saw {[chemical_symbols[z] for z in outside]}; "
                    f"it generates {self.elements}"
                )
        return list(given)

    # -- one batch ---------------------------------------------------------------

    def _batch(
        self,
        initial: Atoms,
        labels: dict[str, torch.Tensor],
        fields: tuple[str, ...],
        count: int,
        steps: int,
        corrector: bool,
        guidance: float,
        seed: int,
        k: int,
        info: dict[str, Any],
        *,
        update: Any = None,
    ) -> list[Atoms]:
        """Draw batch ``k`` of ``count`` structures from its own stream of ``seed``."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + k)
        graph = state_graph([initial] * count, self.dtype)
        batched = {
            name: value.expand(count, *value.shape[1:]).to(
                device=self.device,
                dtype=self.dtype if value.is_floating_point() else None,
            )
            for name, value in labels.items()
        }
        graph = graph.to(device=self.device).with_labels(structure=batched)
        options = self.model.graph_options()
        edges = EdgeCache(
            options["cutoff"], max_neighbors=options["max_neighbors"], skin=self.skin
        )
        with torch.no_grad():
            graph = denoise(
                self.model,
                self.process,
                graph,
                fields=fields,
                steps=steps,
                corrector=corrector,
                guidance=guidance,
                generator=generator,
                edges=edges,
                progress=update,
            )
        made_cell = "cell" in fields
        return [_finish(initial, atoms, made_cell, info) for atoms in to_atoms(graph)]


def _draw_batch(shipped: Shipped, *args: Any) -> list[Atoms]:
    """Draw one batch in an executor's worker (``args`` as ``_batch``)."""
    return shipped.get()._batch(*args)


def _finish(
    initial: Atoms, made: Atoms, made_cell: bool, info: dict[str, Any]
) -> Atoms:
    """Return the sample: given atoms and cell exactly as given, the rest made."""
    out = initial.copy()
    mobile = ~fixed_mask(initial)
    if made_cell:
        out.set_cell(made.cell)
    numbers = out.numbers
    numbers[mobile] = made.numbers[mobile]
    out.numbers = numbers
    out.positions[mobile] = made.positions[mobile]
    out.info.update(info)
    return out
