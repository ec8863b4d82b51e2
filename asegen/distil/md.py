"""The stability check: a short NVE run of the student from each seed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE: the same distribution under its former name
    from ase.md.velocitydistribution import (
        MaxwellBoltzmannDistribution as thermalize_momenta,
    )

from asegen._config import check_int, check_positive
from asegen.errors import AsegenError, ConfigError
from asegen.graph import pair_list

__all__ = ["MDSettings", "nve_check", "shortest_distance"]


@dataclass(frozen=True)
class MDSettings:
    """The stability check: NVE velocity Verlet from each seed.

    Attributes
    ----------
    steps
        Steps per seed.
    temperature
        Initial Maxwell–Boltzmann temperature (K).
    timestep
        Time step (fs).
    min_distance_ratio
        A run is unstable if two atoms come closer than this fraction of
        the shortest distance in its seed.
    max_temperature
        ... or if the temperature leaves ``(0, max_temperature)`` K or is
        not finite.
    seed
        Seed of the initial velocities.
    """

    steps: int = 200
    temperature: float = 300.0
    timestep: float = 1.0
    min_distance_ratio: float = 0.7
    max_temperature: float = 3000.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Check counts and ranges."""
        check_int("md.steps", self.steps, 1)
        check_int("md.seed", self.seed, 0)
        for name in ("temperature", "timestep", "max_temperature"):
            check_positive(f"md.{name}", getattr(self, name))
        if not 0 < self.min_distance_ratio < 1:
            raise ConfigError(
                "md.min_distance_ratio must lie between 0 and 1, got "
                f"{self.min_distance_ratio}"
            )


def shortest_distance(atoms: Atoms, cutoff: float = 6.0) -> float:
    """Return the shortest interatomic distance (Å), periodic images included.

    ``inf`` when no two atoms lie within ``cutoff``.
    """
    distances = pair_list(atoms, cutoff).d
    return float(distances.min()) if len(distances) else float("inf")


def nve_check(
    calculator: Any,
    seeds: Sequence[Atoms],
    settings: MDSettings,
    plot: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run velocity-Verlet NVE from every seed and judge its stability.

    A run is *stable* when every step has a finite energy, a temperature in
    ``(0, settings.max_temperature)`` K and no two atoms closer than
    ``settings.min_distance_ratio`` times the shortest distance of its seed,
    and the calculator never refuses the structure. A run stops at its first
    unstable step.

    Parameters
    ----------
    calculator
        The student calculator (shared by the runs).
    seeds
        Starting structures (``FixAtoms`` constraints are kept).
    settings
        Steps, initial temperature, time step, thresholds and velocity seed.
    plot
        Where to draw the total energy per atom against time (PNG), if given.

    Returns
    -------
    dict
        ``stable`` (all runs) and ``runs``: per seed its formula, atoms,
        ``steps`` done, ``stable``, ``reason`` (empty when stable),
        ``drift_meV_per_atom`` (last minus first total energy),
        ``max_deviation_meV_per_atom``, ``max_temperature_K``,
        ``min_distance_A`` and ``seed_min_distance_A``.
    """
    runs, traces = [], []
    for index, seed in enumerate(seeds):
        run, trace = _one_run(calculator, seed, settings, index)
        runs.append(run)
        traces.append(trace)
    if plot is not None:
        _plot(Path(plot), runs, traces, settings.timestep)
    return {"stable": all(r["stable"] for r in runs), "runs": runs}


def _one_run(
    calculator: Any, seed: Atoms, settings: MDSettings, index: int
) -> tuple[dict[str, Any], np.ndarray]:
    atoms = seed.copy()
    atoms.calc = calculator
    d0 = shortest_distance(atoms)
    limit = settings.min_distance_ratio * d0
    rng = np.random.default_rng(settings.seed + index)
    thermalize_momenta(atoms, temperature_K=settings.temperature, rng=rng)
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, timestep=settings.timestep * units.fs)
    energies: list[float] = []
    temperatures: list[float] = []
    closest, reason, done = d0, "", -1
    try:
        for _ in dynamics.irun(settings.steps):
            energy = float(atoms.get_total_energy())
            temperature = float(atoms.get_temperature())
            distance = shortest_distance(atoms, cutoff=max(d0, 1.0))
            energies.append(energy)
            temperatures.append(temperature)
            closest = min(closest, distance)
            if not (np.isfinite(energy) and np.isfinite(temperature)):
                reason = "non-finite energy or temperature"
            elif not 0 < temperature < settings.max_temperature:
                reason = f"temperature {temperature:.0f} K"
            elif distance < limit:
                reason = f"atoms {distance:.2f} Å apart (limit {limit:.2f} Å)"
            if reason:
                break
            done += 1
    except AsegenError as err:  # the calculator refused a collapsed structure
        reason = str(err).splitlines()[0]
    trace = np.asarray(energies) / len(atoms)
    finite = trace[np.isfinite(trace)]
    return {
        "seed": index,
        "formula": seed.get_chemical_formula(),
        "atoms": len(seed),
        "steps": max(done, 0),
        "stable": not reason,
        "reason": reason,
        "drift_meV_per_atom": _meV(finite[-1] - finite[0]) if len(finite) else None,
        "max_deviation_meV_per_atom": (
            _meV(np.abs(finite - finite[0]).max()) if len(finite) else None
        ),
        "max_temperature_K": (
            round(float(np.nanmax(temperatures)), 1) if temperatures else None
        ),
        "min_distance_A": round(float(closest), 3),
        "seed_min_distance_A": round(float(d0), 3),
    }, trace


def _meV(value: float) -> float:
    return round(1000.0 * float(value), 3)


def _plot(
    path: Path, runs: list[dict[str, Any]], traces: list[np.ndarray], step_fs: float
) -> None:
    """Draw total energy per atom minus its start against time, one line per seed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    for run, trace in zip(runs, traces, strict=True):
        if len(trace):
            time = step_fs * np.arange(len(trace))
            label = f"{run['formula']}" + ("" if run["stable"] else " (unstable)")
            ax.plot(time, 1000 * (trace - trace[0]), label=label, lw=1)
    ax.set(xlabel="time (fs)", ylabel="total energy - start (meV/atom)", title="NVE")
    if runs:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
