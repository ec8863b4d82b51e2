"""The diffusion process of a model: its noisers and property statistics.

:class:`Process` is what a trained generator needs beyond the network's
weights: one noiser per generated field, the normalisation of every
conditioning property, the default confinement window (absolute, and
relative to the top of a template) and periodicity. It
is fitted to the training structures once (:meth:`Process.fit`) and
travels as plain data inside the score model's hyperparameters, so a run
directory or checkpoint rebuilds the whole generator and nothing is
instantiated from names in a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ase import Atoms

from asegen._structures import fixed_mask, property_value
from asegen.diffusion.cell import CellNoiser
from asegen.diffusion.config import FIELDS, DiffusionConfig
from asegen.diffusion.noiser import Noiser
from asegen.diffusion.positions import (
    CONFINEMENT,
    position_noiser,
    positions_from_hparams,
)
from asegen.diffusion.sde import VESDE, VPSDE
from asegen.diffusion.types import TypeNoiser
from asegen.errors import DataFormatError
from asegen.graph import pair_list

__all__ = [
    "FOCUSED_STEPS",
    "FOCUS_SHARE",
    "FOCUS_WIDTH",
    "UNIFORM_STEPS",
    "Process",
    "heights",
    "top_height",
]

#: Share of the training times drawn around :attr:`Process.focus`, and the
#: width (in ``t``) of the normal they come from.
FOCUS_SHARE, FOCUS_WIDTH = 0.5, 0.1

#: Default sampling steps of a model trained with focused times, and of one
#: trained on uniform times (docs/diffusion.md, "Sampling").
FOCUSED_STEPS, UNIFORM_STEPS = 60, 100

_PBC = {
    "gas": (False, False, False),
    "periodic": (True,) * 3,
    "surface": (True, True, False),
}


@dataclass
class Process:
    """Noisers by field and conditioning statistics; see the module docs.

    Attributes
    ----------
    noisers
        One noiser per generated field, in the order of :data:`FIELDS`.
    properties
        By name: ``kind`` (``scalar`` or ``integer``), ``classes`` (integer),
        and for scalars the training ``mean`` and ``std`` used to
        standardise values.
    confinement
        Default ``[lo, hi]`` of the surface noiser, or ``None``.
    confinement_above
        The training window relative to the top of the template: ``[a, b]``
        such that the window is ``[top + a, top + b]``, with ``top`` the
        height of the highest fixed atom (the median over the training
        structures that have fixed atoms and a window), or ``None``. A
        sample with a template and no window of its own gets it.
    t_min
        Smallest diffusion time.
    pbc
        Periodicity of the structures the model makes.
    focus
        Centre of the focused part of the training times (see
        :meth:`draw_times`), or ``None``: uniform times.
    """

    noisers: dict[str, Noiser]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    confinement: list[float] | None = None
    t_min: float = 1e-3
    pbc: tuple[bool, bool, bool] = (True, True, True)
    focus: float | None = None
    confinement_above: list[float] | None = None

    @property
    def vocabulary(self) -> list[int]:
        """The atomic numbers the types noiser draws from (empty without one)."""
        types = self.noisers.get("types")
        return list(types.vocabulary) if isinstance(types, TypeNoiser) else []

    @classmethod
    def fit(
        cls,
        settings: DiffusionConfig,
        structures: Sequence[Atoms],
        *,
        name: str = "training data",
    ) -> Process:
        """Build the noisers and statistics from the training structures."""
        elements: set[int] = set()
        densities, spreads, values = [], [], {p: [] for p in settings.properties()}
        for k, atoms in enumerate(structures):
            mobile = ~fixed_mask(atoms)
            elements.update(int(z) for z in atoms.numbers[mobile])
            moving = atoms.positions[mobile]
            if len(moving):
                spreads.append(((moving - moving.mean(0)) ** 2).sum(1).mean())
            if atoms.pbc.all() and atoms.cell.rank == 3:
                densities.append(len(atoms) / atoms.get_volume())
            for prop in values:
                values[prop].append(
                    property_value(atoms, prop, f"structure {k} of the {name}")
                )
        noisers: dict[str, Noiser] = {}
        if settings.cell_diffused:
            noisers["cell"] = CellNoiser(float(np.mean(densities)))
        if settings.sde == "vp":
            scale = settings.prior_scale
            if scale is None:  # the RMS size of the molecules, at least 0.5 Å
                scale = max(float(np.sqrt(np.mean(spreads))), 0.5)
            sde = VPSDE(settings.beta_min, settings.beta_max, scale=scale)
        else:
            sde = VESDE(settings.sigma_min, settings.sigma_max)
        noisers["positions"] = position_noiser(settings.noiser, sde, snr=settings.snr)
        if settings.types:
            noisers["types"] = TypeNoiser(sorted(elements), kind=settings.types_kind)
        properties = {}
        for prop, options in settings.properties().items():
            data = np.asarray(values[prop], dtype=float)
            entry = dict(options)
            if options["kind"] == "scalar":
                std = float(data.std())
                entry.update(mean=float(data.mean()), std=std if std > 1e-12 else 1.0)
            properties[prop] = entry
        focus = None
        if settings.time_focus:  # 0: uniform times
            distance = _nearest_neighbour_distance(structures)
            if distance is not None:
                focus = _time_of_noise(
                    noisers["positions"],
                    float(settings.time_focus) * distance,
                    settings.t_min,
                )
        return cls(
            noisers=noisers,
            properties=properties,
            confinement=None
            if settings.confinement is None
            else list(settings.confinement),
            t_min=settings.t_min,
            pbc=_PBC[settings.noiser],
            focus=focus,
            confinement_above=_window_above(structures, settings.confinement)
            if settings.noiser == "surface"
            else None,
        )

    def draw_times(
        self, generator: torch.Generator, count: int, *, train: bool
    ) -> torch.Tensor:
        """Draw ``count`` diffusion times in ``[t_min, 1]`` for noised items.

        Uniform, except that half of the training times (``train``) come
        from a normal of width :data:`FOCUS_WIDTH` around :attr:`focus`.
        """
        draw = torch.rand(count, generator=generator, dtype=torch.float64)
        t = self.t_min + (1 - self.t_min) * draw
        if train and self.focus is not None:
            share = torch.rand(count, generator=generator, dtype=torch.float64)
            z = torch.randn(count, generator=generator, dtype=torch.float64)
            focused = (self.focus + FOCUS_WIDTH * z).clamp(self.t_min, 1.0)
            t = torch.where(share < FOCUS_SHARE, focused, t)
        return t

    @property
    def sampling_steps(self) -> int:
        """Default reverse steps: 60 if trained with focused times, else 100."""
        return UNIFORM_STEPS if self.focus is None else FOCUSED_STEPS

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which :meth:`from_hparams` rebuilds the process."""
        return {
            "noisers": [self.noisers[f].hparams() for f in FIELDS if f in self.noisers],
            "properties": self.properties,
            "confinement": self.confinement,
            "t_min": self.t_min,
            "pbc": list(self.pbc),
            "focus": self.focus,
            "confinement_above": self.confinement_above,
        }

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> Process:
        """Rebuild a process from :meth:`hparams`."""
        noisers: dict[str, Noiser] = {}
        for entry in hparams["noisers"]:
            field_name = entry["field"]
            if field_name == "positions":
                noisers[field_name] = positions_from_hparams(entry)
            elif field_name == "types":
                noisers[field_name] = TypeNoiser.from_hparams(entry)
            elif field_name == "cell":
                noisers[field_name] = CellNoiser.from_hparams(entry)
            else:
                raise DataFormatError(f"unknown diffusion field {field_name!r}")
        return cls(
            noisers=noisers,
            properties=dict(hparams.get("properties") or {}),
            confinement=hparams.get("confinement"),
            t_min=float(hparams.get("t_min", 1e-3)),
            pbc=tuple(bool(p) for p in hparams.get("pbc", (True, True, True))),  # type: ignore[arg-type]
            focus=hparams.get("focus"),
            confinement_above=hparams.get("confinement_above"),
        )

    def window_above(self, template: Atoms) -> list[float] | None:
        """Return the training window placed on ``template``'s highest atom.

        ``None`` when the model has no relative window (a model trained
        before it was stored, or without fixed atoms).
        """
        if self.confinement_above is None or not len(template):
            return None
        top = top_height(template, np.ones(len(template), dtype=bool))
        return [top + float(offset) for offset in self.confinement_above]

    def standardise(self, name: str, value: float) -> float:
        """Return ``value`` of property ``name`` as the network reads it.

        Raises
        ------
        asegen.errors.DataFormatError
            For an integer property outside ``0 .. classes - 1``.
        """
        spec = self.properties[name]
        if spec["kind"] == "scalar":
            return (float(value) - spec["mean"]) / spec["std"]
        index = float(value)
        if index != int(index) or not 0 <= index < spec["classes"]:
            raise DataFormatError(
                f"property {name!r} is an integer class in 0..{spec['classes'] - 1}, "
                f"got {value!r}"
            )
        return index


def heights(atoms: Atoms) -> np.ndarray:
    """Return each atom's height, Å along the surface normal, ``(N,)``.

    The normal is that of the first two cell vectors, as the surface noiser
    measures heights.
    """
    normal = np.cross(atoms.cell[0], atoms.cell[1])
    return atoms.positions @ (normal / np.linalg.norm(normal))


def top_height(atoms: Atoms, mask: np.ndarray) -> float:
    """Return the :func:`heights` of the highest masked atom, Å."""
    return float(heights(atoms)[mask].max())


def _window_above(
    structures: Sequence[Atoms], default: Sequence[float] | None
) -> list[float] | None:
    """Median training window relative to each structure's highest fixed atom.

    From the structures that have fixed atoms, an in-plane cell and a window
    (``info["confinement"]``, else ``default``); ``None`` when none has.
    """
    offsets = []
    for atoms in structures:
        fixed = fixed_mask(atoms)
        window = atoms.info.get(CONFINEMENT, default)
        plane = np.cross(atoms.cell[0], atoms.cell[1])
        if window is None or not fixed.any() or not np.linalg.norm(plane) > 0:
            continue
        offsets.append(np.asarray(window, dtype=float) - top_height(atoms, fixed))
    if not offsets:
        return None
    return [float(x) for x in np.median(np.stack(offsets), axis=0)]


def _nearest_neighbour_distance(structures: Sequence[Atoms]) -> float | None:
    """Median distance from a mobile atom to its nearest neighbour, Å.

    From up to 200 structures (enough for a median); ``None`` when no atom
    has a neighbour within 8 Å.
    """
    nearest: list[np.ndarray] = []
    for atoms in structures[:200]:
        mobile = ~fixed_mask(atoms)
        pairs = pair_list(atoms, 8.0)
        best = np.full(len(atoms), np.inf)
        np.minimum.at(best, pairs.i, pairs.d)
        nearest.append(best[mobile & np.isfinite(best)])
    found = np.concatenate(nearest) if nearest else np.zeros(0)
    return float(np.median(found)) if len(found) else None


def _time_of_noise(noiser: Noiser, std: float, t_min: float) -> float:
    """Return the time in ``[t_min, 1]`` where the positions' noise is ``std``, Å."""
    grid = torch.linspace(t_min, 1.0, 4001, dtype=torch.float64)
    stds = noiser.sde.std(grid)  # type: ignore[attr-defined]
    return float(grid[int(torch.argmin((stds - std).abs()))])
