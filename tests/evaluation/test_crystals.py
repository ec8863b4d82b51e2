"""Evaluation of generated crystals: validity, matching, neutrality, energies."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from click.testing import CliRunner

from asegen.cli import main
from asegen.data import write
from asegen.errors import ConfigError, DataFormatError
from asegen.evaluation import (
    LowerHull,
    charge_neutral,
    evaluate,
    fingerprint_distance,
    min_distance,
)
from asegen.evaluation import (
    formula_counts as parse_formula,
)


def cuau_cell(au=(1, 2), seed=0, rattle=0.02):
    """An 8-atom fcc Cu–Au cell (2x1x1 conventional, a = 3.8 Å), rattled."""
    atoms = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((2, 1, 1))
    atoms.numbers[list(au)] = 79
    atoms.rattle(rattle, seed=seed)
    return atoms


def labelled(atoms, energy):
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


@pytest.fixture(scope="module")
def emt_reference():
    """EMT-relaxed (positions and cell) Cu, Au, CuAu (L1_0) and Cu3Au (L1_2)."""
    frames = []
    for symbols in ("Cu4", "Au4", "Cu2Au2", "Cu3Au"):
        atoms = bulk("Cu", "fcc", a=3.8, cubic=True)
        atoms.symbols = symbols
        atoms.calc = EMT()
        BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.005, steps=300)
        frames.append(labelled(atoms, atoms.get_potential_energy()))
    return frames


def test_validity_flags_overlapping_atoms():
    reference = [cuau_cell(seed=s) for s in range(3)]
    clean = cuau_cell(seed=7)
    overlapping = cuau_cell(seed=8)
    overlapping.positions[1] = overlapping.positions[0] + [0.3, 0.4, 0.0]
    report = evaluate([clean, overlapping], reference)
    ref_dmin = min(min_distance(a) for a in reference)
    assert report.reference_min_distance == pytest.approx(ref_dmin)
    assert report.threshold == pytest.approx(0.7 * ref_dmin)
    assert report.min_distance[1] == pytest.approx(0.5)
    assert report.valid.tolist() == [True, False]
    assert "valid (d_min > " in report.table()


def test_min_distance_of_molecules_and_periodic_images():
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3]])
    assert min_distance(dimer) == pytest.approx(2.3)
    far = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 40.0]])
    assert min_distance(far) == pytest.approx(40.0)
    assert min_distance(Atoms("Cu", positions=[[0, 0, 0]])) == np.inf
    # one atom in a small periodic cell: the distance to its own image counts
    single = Atoms("Cu", cell=[2.5, 10, 10], pbc=True)
    assert min_distance(single) == pytest.approx(2.5)


def test_matching_is_invariant_and_sensitive():
    base = cuau_cell(au=(0, 3, 5), seed=1)
    permuted = base[np.random.default_rng(0).permutation(len(base))]
    translated = base.copy()
    translated.positions += 0.37 * base.cell[0] + base.cell[1] + [0.2, -0.1, 0.3]
    translated.wrap()
    rattled = base.copy()
    rattled.rattle(0.3, seed=3)
    assert fingerprint_distance(base, permuted) < 1e-9
    assert fingerprint_distance(base, translated) < 1e-9
    assert fingerprint_distance(base, rattled) > 0.5
    assert fingerprint_distance(base, cuau_cell(au=(0, 3))) == np.inf

    other = cuau_cell(au=(0, 1, 2), seed=2)
    samples = [base, permuted, translated, rattled, other]
    report = evaluate(samples, [other, cuau_cell(au=(1,))])
    assert report.unique.tolist() == [True, False, False, True, True]
    assert report.novel.tolist() == [True, True, True, True, False]
    rows = {m.key: m for m in report.metrics()}
    assert (rows["unique"].count, rows["unique"].total) == (3, 5)
    assert rows["novel"].value == pytest.approx(0.8)


def test_composition_match_skips_template_atoms():
    slab = fcc111("Cu", size=(2, 2, 2), vacuum=6.0)
    slab.set_constraint(FixAtoms(indices=range(len(slab))))
    good, wrong, moved = slab.copy(), slab.copy(), slab.copy()
    top = slab.positions[:, 2].max()
    good += Atoms(
        "Cu2Au", positions=[[0, 0, top + 2], [1.3, 0, top + 2], [0, 2, top + 3]]
    )
    wrong += Atoms(
        "Cu3", positions=[[0, 0, top + 2], [1.3, 0, top + 2], [0, 2, top + 3]]
    )
    moved.positions[0, 0] += 0.01
    moved += Atoms("CuAuCu", positions=[[0, 0, top + 2], [1.3, 0, top + 2], [0, 2, 30]])
    window = (top + 1.0, top + 4.0)
    report = evaluate(
        [good, wrong, moved], [slab], formula="AuCu2", template=slab, confinement=window
    )
    assert report.composition_match.tolist() == [True, False, True]
    assert report.template_unchanged.tolist() == [True, True, False]
    assert report.in_window.tolist() == [True, True, False]
    assert report.settings["n_template"] == len(slab)
    # without a template, n_template skips the leading atoms; the window is
    # read from info and applies to atoms without FixAtoms
    good.info["confinement"] = list(window)
    report = evaluate([good], [slab], formula="Cu2Au", n_template=len(slab))
    assert report.composition_match.tolist() == [True]
    assert report.in_window.tolist() == [True]
    assert report.template_unchanged is None


def test_relaxation_holds_template_atoms():
    slab = fcc111("Cu", size=(2, 2, 2), vacuum=6.0)
    sample = slab.copy()  # no FixAtoms: the template alone says what is held
    top = slab.positions[:, 2].max()
    sample += Atoms("Au", positions=[[0.5, 0.3, top + 2.2]])
    report = evaluate([sample], [sample], calculator=EMT(), template=slab)
    relaxed = report.relaxed[0]
    np.testing.assert_array_equal(relaxed.positions[: len(slab)], slab.positions)
    assert not np.allclose(relaxed.positions[-1], sample.positions[-1])
    assert report.rms_displacement[0] > 0.0
    assert report.in_window is None


def test_atoms_inside_the_cell():
    inside = cuau_cell(rattle=0.0)
    outside = inside.copy()
    outside.positions[0] -= [0.5, 0, 0]
    cluster = Atoms("Cu2", positions=[[-5, 0, 0], [-5, 0, 2.5]])
    report = evaluate([inside, outside, cluster], [inside])
    assert report.in_cell.tolist() == [True, False, True]


def test_charge_neutrality():
    assert charge_neutral("NaCl") is True
    assert charge_neutral("NaCl2") is False
    assert charge_neutral("Cu3Au") is None  # metals only
    assert charge_neutral("Fe3O4") is True  # mixed valence
    assert charge_neutral("NaClO4") is True  # Cl(+7) with O as the anion
    assert charge_neutral("Pd4O4") is True
    assert charge_neutral("PdH2") is True  # H, not Pd, is the anion at equal χ
    assert charge_neutral("PdH") is False
    assert charge_neutral("O2") is None  # one element
    assert charge_neutral("UO2") is None  # U is not in the table
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    assert charge_neutral(nacl) is True
    nacl2 = nacl + Atoms("Cl", positions=[[1.4, 1.4, 1.4]])
    report = evaluate([nacl, nacl2], [nacl])
    assert report.neutral == [True, False]


def test_parse_formula_errors():
    assert parse_formula("Cu4Au4") == {"Cu": 4, "Au": 4}
    assert parse_formula("(CuAu)2") == {"Cu": 2, "Au": 2}
    for bad in ("Xx2", "", "Cu4Au(", "X2"):
        with pytest.raises(ConfigError, match="formula"):
            parse_formula(bad)
    with pytest.raises(ConfigError, match="formula"):
        evaluate([cuau_cell()], [cuau_cell()], formula="Qq3")
    with pytest.raises(DataFormatError, match="no samples"):
        evaluate([], [cuau_cell()])
    with pytest.raises(ConfigError, match="match_tol"):
        evaluate([cuau_cell()], [cuau_cell()], match_tol=-1)


def _lp_hull(fractions, energies, query):
    """The lower hull energy as a linear program: min e.λ, F^T λ = x, λ >= 0."""
    from scipy.optimize import linprog

    result = linprog(energies, A_eq=fractions.T, b_eq=query, bounds=(0, None))
    return result.fun if result.status == 0 else np.nan


def test_lower_hull_matches_a_linear_program():
    rng = np.random.default_rng(0)
    corners = np.eye(3)
    inner = rng.dirichlet(np.ones(3), size=20)
    fractions = np.vstack([corners, inner, inner[:3]])
    energies = rng.normal(size=len(fractions))
    hull = LowerHull(fractions, energies)
    query = np.vstack([rng.dirichlet(np.ones(3), size=30), corners, inner])
    expected = [_lp_hull(fractions, energies, q) for q in query]
    np.testing.assert_allclose(hull(query), expected, atol=1e-9)

    # binary: outside the covered range there is no hull
    binary = LowerHull(np.array([[1, 0], [0.5, 0.5], [0.75, 0.25]]), [0.0, -1.0, 0.0])
    np.testing.assert_allclose(
        binary(np.array([[0.75, 0.25], [1.0, 0.0], [0.25, 0.75]])), [-0.5, 0.0, np.nan]
    )
    # unary: the lowest energy, and nothing for any other composition
    unary = LowerHull(np.array([[1.0], [1.0]]), np.array([-3.0, -2.0]))
    np.testing.assert_allclose(unary(np.array([[1.0], [np.nan]])), [-3.0, np.nan])
    # compositions on a line inside a ternary space
    line = LowerHull(
        np.array([[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0]]), np.array([0.0, 0.0, -1.0])
    )
    np.testing.assert_allclose(
        line(np.array([[0.25, 0.75, 0], [0.3, 0.3, 0.4]])), [-0.5, np.nan]
    )


def test_emt_relaxation_and_hull(emt_reference):
    cu3au, cuau = emt_reference[3], emt_reference[2]
    samples = []
    for seed, parent in enumerate([cu3au, cu3au, cuau]):
        sample = parent.copy()
        sample.rattle(0.1, seed=seed)
        samples.append(sample)
    cuau3 = emt_reference[1].copy()  # Au lattice with one Au replaced: CuAu3
    cuau3.numbers[0] = 29
    samples.append(cuau3)
    stranger = cu3au.copy()
    stranger.numbers[0] = 47  # Ag: no hull without Ag in the reference
    samples.append(stranger)
    report = evaluate(
        samples, emt_reference, calculator=EMT(), hull_threshold=0.005, fmax=0.01
    )
    assert report.converged[:3].all()
    assert (report.energy_relaxed[:3] < report.energy_initial[:3]).all()
    assert (report.rms_displacement[:3] > 0.05).all()
    assert (report.rms_displacement[:3] < 0.3).all()
    hull = report.e_above_hull
    np.testing.assert_allclose(hull[:3], 0.0, atol=2e-4)
    assert 0.005 < hull[3] < 0.1  # CuAu3 in the Au cell, above the hull
    assert np.isnan(hull[4])
    rows = {m.key: m for m in report.metrics()}
    assert (rows["stable"].count, rows["stable"].total) == (3, 4)
    # relaxed copies of reference structures are not novel; the Cu3Au pair
    # relaxes to one structure
    assert report.novel.tolist() == [False, False, False, True, True]
    assert report.unique.tolist() == [True, False, True, True, True]
    # the reference maximum is Au's E/atom; CuAu3 in the Au cell lies above it
    within = report.energy_relaxed <= report.reference_energy.max() + 0.02
    assert within[:4].tolist() == [True, True, True, False]
    assert rows["within_reference_range"].count == within.sum()
    assert len(report.relaxed) == 5
    assert samples[0].calc is None  # inputs untouched
    json.dumps(report.to_dict())


class Failing(EMT):
    """EMT that fails on structures with Au, as a broken calculator would."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        if 79 in atoms.numbers:
            raise RuntimeError("cannot converge")
        super().calculate(atoms, properties, system_changes)


def test_failed_relaxation_counts_as_unstable(emt_reference):
    samples = [emt_reference[0].copy(), emt_reference[3].copy()]
    report = evaluate(samples, emt_reference, calculator=Failing())
    assert np.isfinite(report.energy_relaxed[0])
    assert np.isnan(report.energy_relaxed[1])
    assert report.converged.tolist() == [True, False]
    rows = {m.key: m for m in report.metrics()}
    assert rows["relax_failed"].count == 1
    assert (rows["stable"].count, rows["stable"].total) == (1, 2)


def test_reference_energies_computed_without_labels(emt_reference):
    unlabelled = [atoms.copy() for atoms in emt_reference]
    report = evaluate([emt_reference[0].copy()], unlabelled, calculator=EMT())
    expected = [a.get_potential_energy() / len(a) for a in emt_reference]
    np.testing.assert_allclose(report.reference_energy, expected, atol=1e-10)


def test_plot_writes_png(tmp_path, emt_reference):
    report = evaluate([emt_reference[2].copy()], emt_reference, calculator=EMT())
    path = report.plot(tmp_path / "eval.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_table_png_and_json(tmp_path, emt_reference):
    write(tmp_path / "train.h5", emt_reference)
    samples = [a.copy() for a in emt_reference[2:]]
    for k, atoms in enumerate(samples):
        atoms.rattle(0.05, seed=k)
    from ase.io import write as ase_write

    ase_write(tmp_path / "samples.xyz", samples)
    result = _cli(
        "evaluate", tmp_path / "samples.xyz", "--reference", tmp_path / "train.h5",
        "--calculator", "+ase.calculators.emt.EMT()", "--steps", 50,
        "--plot", tmp_path / "out.png", "--json", tmp_path / "out.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unique (relaxed)" in result.output
    assert "within 0.1 eV/atom of hull" in result.output
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["summary"]["samples"]["count"] == 2
    assert len(data["samples"]["energy_relaxed"]) == 2


def test_cli_one_line_errors(tmp_path):
    from ase.io import write as ase_write

    ase_write(tmp_path / "samples.xyz", [cuau_cell()])
    cases = [
        (["--reference", tmp_path / "missing.h5"], "missing.h5"),
        (["--reference", tmp_path / "samples.xyz", "--formula", "Cu4Qq"], "formula"),
        (["--reference", tmp_path / "samples.xyz", "--calculator", "+nope.X()"],
         "--calculator"),
    ]  # fmt: skip
    for options, word in cases:
        result = _cli("evaluate", tmp_path / "samples.xyz", *options, "--no-plot")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error: ")
        assert word in lines[0]
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    result = _cli("evaluate", empty, "--reference", tmp_path / "samples.xyz")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
