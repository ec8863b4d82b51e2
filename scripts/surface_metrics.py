"""Held-out metrics of the O-on-Pd surface generator ``pdo-surface``.

Used by ``make_pretrained_pdo.py surface``. For every slab with O of the test
split, its Pd atoms are the template and as many O atoms as it had are
generated, with no window given (the model places its training window on
the template). Each sample is

- valid when no pair is closer than 0.7 x the training slabs' shortest and
  every O lies in the window;
- given the adsorption site of each O (:func:`sites`) before and after
  relaxing the O atoms with the bundled force field ``pdo`` (Pd fixed,
  FIRE), against the sites of the training slabs;
- compared in energy with its held-out slab, whose own O atoms are relaxed
  the same way: the difference is per structure (same atoms, same Pd).

O placed uniformly at random in the same window is the baseline.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import numpy as np
from ase import Atoms

from asegen.diffusion.process import heights
from asegen.evaluation.metrics import min_distance

#: Site names, in the order the card lists them, by surface.
SITES = {
    "111": ("fcc", "hcp", "bridge", "top", "subsurface"),
    "100": ("hollow", "bridge", "top", "subsurface"),
}


def face(atoms: Atoms) -> str:
    """Return ``"111"`` or ``"100"`` from the slab's ``info["system"]``."""
    return "111" if str(atoms.info.get("system", "")).startswith("Pd111") else "100"


def _in_plane(atoms: Atoms, origin: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """In-plane vectors from ``origin`` to the nearest image of each masked atom."""
    a, b = atoms.cell[0], atoms.cell[1]
    normal = np.cross(a, b)
    normal /= np.linalg.norm(normal)
    d = atoms.positions[mask] - origin
    fractional = np.linalg.solve(np.array([a, b, normal]).T, d.T).T[:, :2]
    fractional -= np.round(fractional)
    shifts = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)])
    images = (fractional[:, None, :] + shifts[None]) @ np.array([a, b])  # (M, 9, 3)
    nearest = np.linalg.norm(images, axis=2).argmin(axis=1)
    return images[np.arange(len(images)), nearest]


def sites(atoms: Atoms, surface: str) -> list[str]:
    """Return the adsorption site of each O atom of a Pd slab: the nearest one.

    The top layer is the Pd within 1 Å of the highest Pd (along the surface
    normal), the second layer the Pd 1-3 Å below it. An O more than 0.8 Å
    below the top is ``subsurface``; otherwise the candidates around it are
    its 3 (111) or 4 (100) nearest top-layer Pd in the plane (``top``), the
    midpoints of their pairs closer than 1.3 x the Pd-Pd distance
    (``bridge``) and their centre (hollow), and the nearest wins. On (111) a
    hollow with a second-layer Pd under its centre (within 0.35 x the Pd-Pd
    distance) is ``hcp``, else ``fcc``; on (100) it is ``hollow``.
    """
    pd = atoms.numbers == 46
    h = heights(atoms)
    top = h[pd].max()
    first = pd & (h > top - 1.0)
    second = pd & (h <= top - 1.0) & (h > top - 3.0)
    spacing = np.median(
        [
            np.sort(
                np.linalg.norm(_in_plane(atoms, atoms.positions[k], first), axis=1)
            )[1]
            for k in np.flatnonzero(first)
        ]
    )
    out = []
    for k in np.flatnonzero(atoms.numbers == 8):
        if h[k] < top - 0.8:
            out.append("subsurface")
            continue
        vectors = _in_plane(atoms, atoms.positions[k], first)
        ring = vectors[
            np.argsort(np.linalg.norm(vectors, axis=1))[: 3 if surface == "111" else 4]
        ]
        candidates = [(np.linalg.norm(v), "top") for v in ring]
        for i in range(len(ring)):
            for j in range(i):
                if np.linalg.norm(ring[i] - ring[j]) < 1.3 * spacing:
                    middle = 0.5 * (ring[i] + ring[j])
                    candidates.append((np.linalg.norm(middle), "bridge"))
        centre = ring.mean(axis=0)
        candidates.append((np.linalg.norm(centre), "hollow"))
        site = min(candidates, key=lambda c: c[0])[1]
        if site == "hollow" and surface == "111":
            under = _in_plane(atoms, atoms.positions[k] + centre, second)
            near = np.linalg.norm(under, axis=1) < 0.35 * spacing
            site = "hcp" if near.any() else "fcc"
        out.append(site)
    return out


def site_shares(slabs: list[Atoms]) -> dict[str, str]:
    """Return, by surface, the share of the O atoms on each site, as text."""
    counts: dict[str, Counter] = {s: Counter() for s in SITES}
    for atoms in slabs:
        counts[face(atoms)].update(sites(atoms, face(atoms)))
    out = {}
    for surface, names in SITES.items():
        total = sum(counts[surface].values())
        if total:
            shares = " / ".join(
                f"{name} {counts[surface][name] / total:.2f}" for name in names
            )
            out[f"({surface})"] = f"{shares} ({total} O)"
    return out


def relaxed(atoms: Atoms, calc: Any, steps: int) -> tuple[Atoms, float]:
    """Relax the O atoms (Pd fixed) with FIRE; the structure and its energy, eV."""
    from ase.constraints import FixAtoms
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.set_constraint(FixAtoms(mask=atoms.numbers == 46))
    atoms.calc = calc
    try:
        FIRE(atoms, logfile=None).run(fmax=0.05, steps=steps)
        energy = float(atoms.get_potential_energy())
    except Exception:  # a sample the force field cannot handle
        energy = float("inf")
    return atoms, energy


def uniform(template: Atoms, n_o: int, window: list[float], rng: Any) -> Atoms:
    """Return ``template`` with ``n_o`` O atoms uniform in the window (baseline)."""
    a, b = template.cell[0], template.cell[1]
    normal = np.cross(a, b)
    normal /= np.linalg.norm(normal)
    draw = rng.random((n_o, 3))
    height = window[0] + (window[1] - window[0]) * draw[:, 2]
    positions = draw[:, :1] * a + draw[:, 1:2] * b + height[:, None] * normal
    return template + Atoms(f"O{n_o}", positions=positions)


def surface_metrics(
    model: Any, args: argparse.Namespace, train: list[Atoms], test: list[Atoms]
) -> dict[str, Any]:
    """Return the card's metrics (see the module docs) for the score ``model``."""
    import asegen
    from asegen.diffusion import DiffusionGenerator

    calc = asegen.load("pdo", device="cpu")
    generator = DiffusionGenerator(model, device="cpu")
    shortest = min(min_distance(a) for a in train)
    rng = np.random.default_rng(args.seed)
    made: dict[str, list[Atoms]] = {"samples": [], "uniform": []}
    energies: dict[str, list[float]] = {"samples": [], "uniform": []}
    valid: dict[str, list[bool]] = {"samples": [], "uniform": []}
    raw_sites = []
    references = []
    for k, slab in enumerate(test):
        n_o = int((slab.numbers == 8).sum())
        template = slab[slab.numbers == 46]
        template.info = {"system": slab.info["system"]}
        window = generator.process.window_above(template)
        _, reference = relaxed(slab, calc, args.relax_steps)
        references.append(reference)
        drawn = {
            "samples": generator.sample(
                args.per_slab, template=template, formula=f"O{n_o}", seed=args.seed + k
            ),
            "uniform": [
                uniform(template, n_o, window, rng) for _ in range(args.per_slab)
            ],
        }
        raw_sites.extend(drawn["samples"])
        for kind, samples in drawn.items():
            for atoms in samples:
                atoms.info["system"] = slab.info["system"]
                o = atoms.numbers == 8
                h = heights(atoms)[o]
                inside = bool(((h >= window[0] - 1e-6) & (h <= window[1] + 1e-6)).all())
                valid[kind].append(inside and min_distance(atoms) > 0.7 * shortest)
                final, energy = relaxed(atoms, calc, args.relax_steps)
                final.info["system"] = slab.info["system"]
                made[kind].append(final)
                energies[kind].append(energy - reference)
    n_atoms = np.repeat([len(s) for s in test], args.per_slab)
    out: dict[str, Any] = {
        "test slabs with O (templates), samples per slab": (
            f"{len(test)}, {args.per_slab}"
        ),
        "window above the template's top (model's, Å)": [
            round(x, 3) for x in generator.process.confinement_above
        ],
        "shortest pair in the training slabs, Å": round(shortest, 3),
    }
    for kind in ("samples", "uniform"):
        gap = np.asarray(energies[kind])
        label = {
            "samples": "diffusion samples",
            "uniform": "uniform in the window (baseline)",
        }[kind]
        out[f"{label}: valid (d_min > 0.7 x training's, O in window)"] = round(
            float(np.mean(valid[kind])), 3
        )
        # + 0.0: a median of -1e-5 prints as 0.0, not -0.0
        out[f"{label}: relaxed E - held-out slab's relaxed E, median eV"] = (
            round(float(np.median(gap)), 3) + 0.0
        )
        out[f"{label}: within 0.1 eV (per structure) of the held-out slab"] = round(
            float(np.mean(gap < 0.1)), 3
        )
        out[f"{label}: within 0.1 eV/atom of the held-out slab"] = round(
            float(np.mean(gap / n_atoms < 0.1)), 3
        )
        for surface, shares in site_shares(made[kind]).items():
            out[f"{label}: O sites after relaxing, {surface}"] = shares
    for surface, shares in site_shares(raw_sites).items():
        out[f"diffusion samples: O sites as sampled, {surface}"] = shares
    for surface, shares in site_shares(train).items():
        out[f"training slabs: O sites, {surface}"] = shares
    out["relaxation"] = (
        f"pdo, Pd fixed, FIRE to 0.05 eV/Å, at most {args.relax_steps} steps"
    )
    return out
