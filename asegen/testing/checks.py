"""The checks of the test kit: derivatives, invariances, the calculator contract.

Each ``assert_*`` function raises an ``AssertionError`` that names the
quantity, the worst difference and where it is; :func:`check_calculator` runs
them all on the structures of :data:`~asegen.testing.structures.STRUCTURES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.stress import voigt_6_to_full_3x3_stress
from scipy.spatial.transform import Rotation

from asegen.testing.structures import STRUCTURES

__all__ = [
    "TOLERANCES",
    "Tolerance",
    "assert_batch_equals_loop",
    "assert_calculator_contract",
    "assert_cell_choice_invariant",
    "assert_extensive",
    "assert_forces_match_fd",
    "assert_image_invariant",
    "assert_permutation_invariant",
    "assert_rotation_invariant",
    "assert_stress_matches_fd",
    "check_calculator",
]


@dataclass(frozen=True)
class Tolerance:
    """Absolute tolerances for comparing calculator outputs.

    Attributes
    ----------
    energy
        eV, for energies of the same structure computed two ways.
    forces
        eV/Å.
    stress
        eV/Å³.
    fd_delta
        Displacement (Å) and strain step of the finite differences.
    rtol
        Relative tolerance added to each absolute one, as in
        :func:`numpy.allclose`: a value passes if ``|a - b| <= atol + rtol |b|``.
    """

    energy: float
    forces: float
    stress: float
    fd_delta: float
    rtol: float


#: Named tolerances: ``"float64"`` for derivative checks of a float64 model,
#: ``"float32"`` for a float32 model.
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(
        energy=1e-8, forces=1e-6, stress=1e-7, fd_delta=1e-5, rtol=1e-6
    ),
    "float32": Tolerance(
        energy=1e-4, forces=2e-2, stress=1e-3, fd_delta=1e-2, rtol=1e-4
    ),
}


def _tolerance(tolerance: Tolerance | str) -> Tolerance:
    return TOLERANCES[tolerance] if isinstance(tolerance, str) else tolerance


def _has_3d_cell(atoms: Atoms) -> bool:
    return bool(atoms.pbc.all()) and atoms.cell.rank == 3


def _assert_close(
    what: str, actual: Any, expected: Any, atol: float, rtol: float
) -> None:
    """Raise an AssertionError naming ``what``, the worst error and where it is."""
    __tracebackhide__ = True
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != {expected.shape}")
    excess = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    if not (excess <= 0).all():  # NaN fails too
        where = np.unravel_index(
            int(np.nanargmax(np.nan_to_num(excess, nan=np.inf))), excess.shape
        )
        raise AssertionError(
            f"{what}: difference {abs(actual[where] - expected[where]):.3g} at index "
            f"{tuple(int(k) for k in where)} exceeds atol {atol:.3g} + rtol {rtol:.3g} "
            f"(got {actual[where]:.8g}, expected {expected[where]:.8g})"
        )


def _evaluate(calc: Calculator, atoms: Atoms) -> dict[str, np.ndarray]:
    """Energy, forces and (for 3-D periodic cells) stress of a copy of ``atoms``."""
    atoms = atoms.copy()
    atoms.calc = calc
    out = {
        "energy": np.array(atoms.get_potential_energy()),
        "forces": atoms.get_forces(),
    }
    if _has_3d_cell(atoms):
        out["stress"] = atoms.get_stress(voigt=False)
    return out


def assert_forces_match_fd(
    calc: Calculator, atoms: Atoms, *, tolerance: Tolerance | str = "float64"
) -> None:
    """Check that forces equal minus the central-difference gradient of the energy."""
    __tracebackhide__ = True
    tol = _tolerance(tolerance)
    atoms = atoms.copy()
    atoms.calc = calc
    forces = atoms.get_forces()
    reference = calculate_numerical_forces(atoms, eps=tol.fd_delta)
    _assert_close(
        "forces vs finite differences", forces, reference, tol.forces, tol.rtol
    )


def assert_stress_matches_fd(
    calc: Calculator, atoms: Atoms, *, tolerance: Tolerance | str = "float64"
) -> None:
    """Check that stress equals ``(1/V) dE/dstrain`` by central finite strain."""
    __tracebackhide__ = True
    if not _has_3d_cell(atoms):
        raise ValueError("stress needs a structure periodic along all three axes")
    tol = _tolerance(tolerance)
    atoms = atoms.copy()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=True)
    reference = calculate_numerical_stress(atoms, eps=tol.fd_delta, voigt=True)
    _assert_close("stress vs finite strain", stress, reference, tol.stress, tol.rtol)


def assert_rotation_invariant(
    calc: Calculator,
    atoms: Atoms,
    *,
    seed: int = 0,
    tolerance: Tolerance | str = "float64",
) -> None:
    """Check invariance of energy and covariance of forces and stress under rotation.

    A random rotation ``R`` (seeded) is applied to positions and cell; the
    energy must not change, forces must rotate as ``F R^T`` and stress as
    ``R sigma R^T``.
    """
    __tracebackhide__ = True
    tol = _tolerance(tolerance)
    rotation = Rotation.random(random_state=seed).as_matrix()
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.cell = np.asarray(atoms.cell) @ rotation.T
    before, after = _evaluate(calc, atoms), _evaluate(calc, rotated)
    _assert_close(
        "energy after rotation", after["energy"], before["energy"], tol.energy, tol.rtol
    )
    _assert_close(
        "forces after rotation",
        after["forces"],
        before["forces"] @ rotation.T,
        tol.forces,
        tol.rtol,
    )
    if "stress" in before:
        expected = rotation @ before["stress"] @ rotation.T
        _assert_close(
            "stress after rotation", after["stress"], expected, tol.stress, tol.rtol
        )


def assert_image_invariant(
    calc: Calculator,
    atoms: Atoms,
    *,
    seed: int = 0,
    tolerance: Tolerance | str = "float64",
) -> None:
    """Check that moving atoms by lattice vectors, or translating all, changes nothing.

    Every atom is moved by a random integer combination (-2..2) of the
    periodic lattice vectors, and the whole structure by a random vector;
    energy, forces and stress must be unchanged. For a structure without
    periodic axes only the translation is tested.
    """
    __tracebackhide__ = True
    tol = _tolerance(tolerance)
    rng = np.random.default_rng(seed)
    moved = atoms.copy()
    images = rng.integers(-2, 3, size=(len(atoms), 3)) * atoms.pbc
    moved.positions = atoms.positions + images @ np.asarray(atoms.cell)
    moved.positions += rng.normal(size=3)
    before, after = _evaluate(calc, atoms), _evaluate(calc, moved)
    for key, atol in (
        ("energy", tol.energy),
        ("forces", tol.forces),
        ("stress", tol.stress),
    ):
        if key in before:
            _assert_close(
                f"{key} after image shifts", after[key], before[key], atol, tol.rtol
            )


def assert_permutation_invariant(
    calc: Calculator,
    atoms: Atoms,
    *,
    seed: int = 0,
    tolerance: Tolerance | str = "float64",
) -> None:
    """Check that reordering the atoms reorders the forces and changes nothing else."""
    __tracebackhide__ = True
    tol = _tolerance(tolerance)
    order = np.random.default_rng(seed).permutation(len(atoms))
    before, after = _evaluate(calc, atoms), _evaluate(calc, atoms[order])
    _assert_close(
        "energy after permutation",
        after["energy"],
        before["energy"],
        tol.energy,
        tol.rtol,
    )
    _assert_close(
        "forces after permutation",
        after["forces"],
        before["forces"][order],
        tol.forces,
        tol.rtol,
    )
    if "stress" in before:
        _assert_close(
            "stress after permutation",
            after["stress"],
            before["stress"],
            tol.stress,
            tol.rtol,
        )


def assert_cell_choice_invariant(
    calc: Calculator, atoms: Atoms, *, tolerance: Tolerance | str = "float64"
) -> None:
    """Check that another basis of the same periodic lattice changes nothing.

    The cell rows are replaced by integer combinations with determinant 1
    (``a1 + a2``, ``a2``, ``a2 + a3`` along periodic axes) and the atoms are
    wrapped into the new cell; energy, forces and stress must be unchanged.
    """
    __tracebackhide__ = True
    if not atoms.pbc.all():
        raise ValueError("a cell re-choice needs a structure periodic along all axes")
    tol = _tolerance(tolerance)
    transform = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]])  # det 1
    rechosen = atoms.copy()
    rechosen.set_cell(transform @ np.asarray(atoms.cell), scale_atoms=False)
    rechosen.wrap()
    before, after = _evaluate(calc, atoms), _evaluate(calc, rechosen)
    for key, atol in (
        ("energy", tol.energy),
        ("forces", tol.forces),
        ("stress", tol.stress),
    ):
        _assert_close(
            f"{key} after cell re-choice", after[key], before[key], atol, tol.rtol
        )


def assert_extensive(
    calc: Calculator,
    atoms: Atoms,
    *,
    repeat: tuple[int, int, int] = (2, 1, 1),
    tolerance: Tolerance | str = "float64",
) -> None:
    """Check that a supercell has ``prod(repeat)`` times the energy, the same stress.

    Holds for models whose graph of the supercell is the repeated graph of the
    cell (radius graphs; a nearest-K cut with ties may differ).
    """
    __tracebackhide__ = True
    if not atoms.pbc.all():
        raise ValueError("extensivity needs a structure periodic along all axes")
    tol = _tolerance(tolerance)
    n = int(np.prod(repeat))
    before, after = _evaluate(calc, atoms), _evaluate(calc, atoms.repeat(repeat))
    _assert_close(
        "supercell energy",
        after["energy"],
        n * before["energy"],
        n * tol.energy,
        tol.rtol,
    )
    _assert_close(
        "supercell forces",
        after["forces"],
        np.tile(before["forces"], (n, 1)),
        tol.forces,
        tol.rtol,
    )
    _assert_close(
        "supercell stress", after["stress"], before["stress"], tol.stress, tol.rtol
    )


def assert_batch_equals_loop(
    calc: Calculator,
    images: Sequence[Atoms],
    *,
    tolerance: Tolerance | str = "float64",
) -> None:
    """Check that ``calc.calculate_batch(images)`` equals one call per structure.

    ``calculate_batch`` is asegen's batching hook: it takes a sequence of
    ``Atoms`` and returns one results dictionary per structure, with the
    keys of ``calc.results``.
    """
    __tracebackhide__ = True
    tol = _tolerance(tolerance)
    if not callable(getattr(calc, "calculate_batch", None)):
        raise TypeError(f"{type(calc).__name__} has no calculate_batch method")
    batched = calc.calculate_batch(list(images))
    if len(batched) != len(images):
        raise AssertionError(
            f"calculate_batch returned {len(batched)} results "
            f"for {len(images)} structures"
        )
    for k, (atoms, results) in enumerate(zip(images, batched, strict=True)):
        single = _evaluate(calc, atoms)
        for key, atol in (
            ("energy", tol.energy),
            ("forces", tol.forces),
            ("stress", tol.stress),
        ):
            if key in single:
                value = np.asarray(results[key])
                if key == "stress" and value.shape == (6,):
                    value = voigt_6_to_full_3x3_stress(value)
                _assert_close(
                    f"structure {k} {key}, batch vs loop",
                    value,
                    single[key],
                    atol,
                    tol.rtol,
                )


def assert_calculator_contract(calc: Calculator, atoms: Atoms) -> None:
    """Check the ASE caching contract: one ``calculate`` call per geometry.

    Reading energy, forces and (3-D cells) stress costs one call; reading them
    again costs none; moving one atom costs exactly one more and changes the
    energy. ``free_energy`` must be stored (ASE's numerical stress reads it).
    """
    __tracebackhide__ = True
    atoms = atoms.copy()
    atoms.calc = calc
    calls = []
    original = calc.calculate

    def counting(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        original(*args, **kwargs)

    calc.calculate = counting  # type: ignore[method-assign]
    try:
        for phase, expected in (("first read", 1), ("second read", 0)):
            before = len(calls)
            energy = _read_all(atoms)
            if len(calls) - before != expected:
                raise AssertionError(
                    f"{phase}: {len(calls) - before} calculate calls, "
                    f"expected {expected}"
                )
        missing = {"energy", "free_energy", "forces"} - set(calc.results)
        if missing:
            raise AssertionError(f"results lack {sorted(missing)} after one call")
        atoms.positions[0] += 0.05
        before = len(calls)
        moved_energy = _read_all(atoms)
        if len(calls) - before != 1:
            raise AssertionError(
                f"after a move: {len(calls) - before} calls, expected 1"
            )
        if moved_energy == energy:
            raise AssertionError("energy did not change after moving an atom")
    finally:
        del calc.calculate


def check_calculator(
    calc: Calculator,
    *,
    structures: dict[str, Callable[[], Atoms]] | None = None,
    tolerance: Tolerance | str = "float64",
) -> None:
    """Run every applicable check of this module on every structure.

    Stress and cell re-choice are checked on 3-D periodic structures only,
    and the batch check only if the calculator has ``calculate_batch``.
    Extensivity is left out: it holds only for some graphs (see
    :func:`assert_extensive`).
    """
    __tracebackhide__ = True
    for factory in (structures or STRUCTURES).values():
        atoms = factory()
        assert_forces_match_fd(calc, atoms, tolerance=tolerance)
        if _has_3d_cell(atoms):
            assert_stress_matches_fd(calc, atoms, tolerance=tolerance)
        assert_rotation_invariant(calc, atoms, tolerance=tolerance)
        assert_image_invariant(calc, atoms, tolerance=tolerance)
        assert_permutation_invariant(calc, atoms, tolerance=tolerance)
        if _has_3d_cell(atoms):
            assert_cell_choice_invariant(calc, atoms, tolerance=tolerance)
        assert_calculator_contract(calc, atoms)
    if callable(getattr(calc, "calculate_batch", None)):
        images = [factory() for factory in (structures or STRUCTURES).values()]
        assert_batch_equals_loop(calc, images, tolerance=tolerance)


def _read_all(atoms: Atoms) -> float:
    energy = atoms.get_potential_energy()
    atoms.get_forces()
    if _has_3d_cell(atoms):
        atoms.get_stress()
    return float(energy)
