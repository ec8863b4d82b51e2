"""The diffusion process of a model: its noisers and property statistics.

:class:`Process` is what a trained generator needs beyond the network's
weights: one noiser per generated field, the normalisation of every
conditioning property, the default confinement window and periodicity. It
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
from ase import Atoms
from ase.constraints import FixAtoms

from asegen._structures import property_value
from asegen.diffusion.cell import CellNoiser
from asegen.diffusion.config import FIELDS, DiffusionConfig
from asegen.diffusion.noiser import Noiser
from asegen.diffusion.positions import position_noiser, positions_from_hparams
from asegen.diffusion.sde import VESDE, VPSDE
from asegen.diffusion.types import TypeNoiser
from asegen.errors import DataFormatError

__all__ = ["Process"]

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
    t_min
        Smallest diffusion time.
    pbc
        Periodicity of the structures the model makes.
    """

    noisers: dict[str, Noiser]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    confinement: list[float] | None = None
    t_min: float = 1e-3
    pbc: tuple[bool, bool, bool] = (True, True, True)

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
            mobile = np.ones(len(atoms), dtype=bool)
            for constraint in atoms.constraints:
                if isinstance(constraint, FixAtoms):
                    mobile[constraint.index] = False
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
        return cls(
            noisers=noisers,
            properties=properties,
            confinement=None
            if settings.confinement is None
            else list(settings.confinement),
            t_min=settings.t_min,
            pbc=_PBC[settings.noiser],
        )

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which :meth:`from_hparams` rebuilds the process."""
        return {
            "noisers": [self.noisers[f].hparams() for f in FIELDS if f in self.noisers],
            "properties": self.properties,
            "confinement": self.confinement,
            "t_min": self.t_min,
            "pbc": list(self.pbc),
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
        )

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
