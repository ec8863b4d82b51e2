"""``Augmenter.run``: semantics kept from augment-atoms, defects fixed."""

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
from anchor_streams import AnchorStreams
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from augment_helpers import (
    assert_labels_fresh,
    counted,
    cu_cell,
    cu_cluster,
    fresh_labels,
)

from asegen.augment import Augmenter
from asegen.augment import growth as growth_module
from asegen.augment.augmenter import Reorder
from asegen.augment.driver import Finished
from asegen.augment.family import Produced
from asegen.augment.labels import label_one
from asegen.augment.operations import complete, fractional, similar_to_any
from asegen.errors import ConfigError, DataFormatError, StructureError

DATA = Path(__file__).parent / "data"


def augment(images, calc=None, **settings):
    augmenter = Augmenter(
        calc or EMT(), **{"n_per_structure": 5, "seed": 42, **settings}
    )
    return list(augmenter.run(images)), augmenter.stats


def signature(images):
    return [
        (dict(a.info), a.positions.tolist(), a.cell.tolist(), a.get_potential_energy())
        for a in images
    ]


def test_counts_ids_and_tree_info(inputs):
    out, stats = augment(inputs)
    assert len(out) == 15
    assert [a.info["starting-structure"] for a in out] == [0] * 5 + [1] * 5 + [2] * 5
    assert [a.info["id"] for a in out[:5]] == [f"0-{k}" for k in range(5)]
    seed = out[0]
    assert (seed.info["parent"], seed.info["level"], seed.info["relax_steps"]) == (
        "root",
        0,
        0,
    )
    assert "sigma" not in seed.info
    ids = {a.info["id"]: a for a in out}
    for child in (a for a in out if a.info["level"] > 0):
        parent = ids[child.info["parent"]]
        assert child.info["level"] == parent.info["level"] + 1
        assert 0.01 <= child.info["sigma"] < 0.1
        assert 0 <= child.info["relax_steps"] <= 20
    assert (stats.structures, stats.seeds, stats.accepted) == (15, 3, 12)


def test_same_seed_same_output_other_seed_other_output(inputs):
    first, _ = augment(inputs)
    again, _ = augment([atoms.copy() for atoms in inputs])
    assert signature(first) == signature(again)
    other, _ = augment(inputs, seed=43)
    assert signature(other) != signature(first)


def test_labels_equal_a_fresh_evaluation_with_stress_for_periodic(inputs):
    """D7, D10: stored labels are copies, at exactly the returned geometry."""
    out, _ = augment(inputs, cell_sigma=0.02)
    for atoms in out:
        assert_labels_fresh(atoms)


def test_max_force_and_min_separation_hold_in_every_child():
    settings = {"sigma_range": (0.05, 0.2), "min_separation": 2.35, "max_force": 2.5}
    out, stats = augment(
        [cu_cell(0), cu_cluster(2)], n_per_structure=6, seed=1, **settings
    )
    assert stats.rejected["force"] > 0
    assert stats.rejected["separation"] > 0
    for atoms in out[1:6] + out[7:]:
        assert np.linalg.norm(atoms.get_forces(), axis=1).max() <= 2.5
        distances = atoms.get_all_distances(mic=atoms.pbc.any())
        assert distances[np.triu_indices(len(atoms), 1)].min() >= 2.35


def test_no_two_members_of_a_family_are_similar():
    out, _ = augment([cu_cell(0)], n_per_structure=12, cell_sigma=0.02)
    for k, atoms in enumerate(out[1:], start=1):
        members = np.array([fractional(m.positions, m.cell.array) for m in out[:k]])
        candidate = fractional(atoms.positions, atoms.cell.array)
        assert not similar_to_any(candidate, atoms.cell.array, atoms.pbc, members, 0.1)


def test_cell_strain_of_non_orthogonal_cells_is_seen_by_similarity():
    """D1: with fcc-primitive cells and cell_sigma the anchor rejected nothing."""
    seed = bulk("Cu", "fcc", a=3.61).repeat(3)
    seed.rattle(0.03, seed=1)
    out, stats = augment([seed], n_per_structure=8, cell_sigma=0.02)
    assert stats.rejected["similar"] > 0
    assert len({tuple(a.cell.array.ravel()) for a in out}) == 8  # every cell strained


def test_molecules_and_non_periodic_axes_keep_their_cells():
    """D3: cell_sigma strains periodic axes only; molecules run (no LinAlgError)."""
    boxed = cu_cluster(3)
    boxed.cell = [12.0, 13.0, 14.0]
    slab = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    slab.pbc = (True, True, False)
    slab.rattle(0.03, seed=2)
    out, _ = augment([cu_cluster(2), boxed, slab], cell_sigma=0.05)
    assert all(not a.cell.any() for a in out[:5])
    assert all(np.array_equal(a.cell.array, boxed.cell.array) for a in out[5:10])
    slabs = out[10:]
    assert all(np.array_equal(a.cell[2], slab.cell[2]) for a in slabs)
    assert len({tuple(a.cell[:2].ravel()) for a in slabs}) == 5


@pytest.mark.parametrize("cell_sigma", [None, 0.02])
def test_fixed_atoms_are_neither_rattled_nor_relaxed(cell_sigma):
    """FixAtoms: fixed atoms stay as in the parent (under strain: its affine map)."""
    slab = fcc111("Cu", (2, 2, 4), vacuum=5.0)
    fixed = slab.positions[:, 2] < slab.positions[:, 2].min() + 2.5  # 2 layers
    slab.set_constraint(FixAtoms(mask=fixed))
    out, _ = augment([slab], n_per_structure=10, cell_sigma=cell_sigma)
    members = {atoms.info["id"]: atoms for atoms in out}
    children = out[1:]
    assert any(child.info["relax_steps"] > 0 for child in children)
    for child in children:
        parent = members[child.info["parent"]]
        (constraint,) = child.constraints
        assert isinstance(constraint, FixAtoms)
        assert constraint.get_indices().tolist() == np.flatnonzero(fixed).tolist()
        free = ~fixed
        assert np.abs(child.positions[free] - parent.positions[free]).max() > 0.01
        if cell_sigma is None:
            assert np.array_equal(child.positions[fixed], parent.positions[fixed])
        else:
            assert not np.array_equal(child.cell.array, parent.cell.array)
            lattice = fractional(parent.positions, parent.cell.array)
            mapped = lattice @ complete(child.cell.array)
            np.testing.assert_allclose(
                child.positions[fixed], mapped[fixed], rtol=0, atol=1e-8
            )


class _PinnedEMT(EMT):
    """EMT plus a large force on atom 0, as a fixed atom of a strained slab has."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"][0] += [0.0, 0.0, 100.0]


def test_max_force_is_tested_on_free_atoms(monkeypatch):
    monkeypatch.setattr(growth_module, "MAX_ATTEMPTS", 25)
    slab = fcc111("Cu", (2, 2, 3), vacuum=5.0)
    slab.set_constraint(FixAtoms(indices=[0]))
    out, _ = augment([slab], calc=_PinnedEMT(), n_per_structure=4)
    assert len(out) == 4
    assert all(child.get_forces(apply_constraint=False)[0, 2] > 99 for child in out)


def test_families_of_identical_inputs_differ():
    """D6: each starting structure draws from its own streams."""
    cell = cu_cell(0)
    out, _ = augment([cell, cell.copy()])
    sigmas = [
        [a.info["sigma"] for a in out[s : s + 5] if "sigma" in a.info] for s in (0, 5)
    ]
    assert sigmas[0] != sigmas[1]
    anchor = Augmenter(EMT(), n_per_structure=5, seed=42)
    anchor._streams = AnchorStreams(42)
    same = list(anchor.run([cell, cell.copy()]))
    assert [a.info.get("sigma") for a in same[:5]] == [
        a.info.get("sigma") for a in same[5:]
    ]


def test_anchor_streams_reproduce_the_anchor_with_fewer_calls():
    """Spec 7.2/7.11: same structures as augment-atoms 0.2.0, fewer calculator calls.

    ``data/anchor_emt.xyz`` was written by augment-atoms 0.2.0
    (``data/make_anchor_reference.py``), which made ``calls`` EMT evaluations.
    """
    record = json.loads((DATA / "anchor_emt.json").read_text())
    settings = {
        **record["settings"],
        "sigma_range": tuple(record["settings"]["sigma_range"]),
    }
    calc = counted(EMT)()
    augmenter = Augmenter(calc, **settings)
    augmenter._streams = AnchorStreams(settings["seed"])
    ours = list(augmenter.run(ase.io.read(DATA / "anchor_inputs.xyz", ":")))
    reference = ase.io.read(DATA / "anchor_emt.xyz", ":")
    assert len(ours) == len(reference)
    for mine, theirs in zip(ours, reference, strict=True):
        for key in ("starting-structure", "level", "relax_steps"):
            assert mine.info[key] == theirs.info[key]
        np.testing.assert_allclose(mine.positions, theirs.positions, atol=3e-8)
        assert mine.get_potential_energy() == pytest.approx(
            theirs.get_potential_energy(), rel=1e-6, abs=1e-7
        )
    assert calc.calls == augmenter.stats.calls
    assert (
        augmenter.stats.calls + augmenter.stats.rejected["similar"] <= record["calls"]
    )


def test_similar_iterates_are_never_labelled(monkeypatch):
    """D11: with every candidate similar, only the seed is ever evaluated."""
    monkeypatch.setattr(growth_module, "MAX_ATTEMPTS", 25)
    calc = counted(EMT)()
    augmenter = Augmenter(calc, n_per_structure=2, similarity_threshold=100.0)
    with pytest.raises(ConfigError, match="25 attempts in a row were rejected"):
        list(augmenter.run(cu_cell(0)))
    assert calc.calls == 1


class BufferReusingEMT(EMT):
    """Writes every result into the same arrays, as some fast calculators do."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        if not hasattr(self, "buffer"):
            self.buffer = np.zeros_like(self.results["forces"])
        self.buffer[:] = self.results["forces"]
        self.results["forces"] = self.buffer


def test_labels_are_copied_from_the_calculator():
    """D10: the anchor stored calc.results["forces"] itself."""
    out, _ = augment([cu_cell(0)], calc=BufferReusingEMT())
    for atoms in out:
        np.testing.assert_allclose(
            atoms.get_forces(), fresh_labels(atoms)["forces"], atol=1e-10
        )


class RecordingEMT(EMT):
    def calculate(self, atoms=None, properties=None, system_changes=()):
        self.seen = (list(properties), list(system_changes))
        super().calculate(atoms, properties, system_changes)


def test_one_call_asks_for_everything_and_says_what_changed():
    """D13: energy, forces and stress in one call, with the real system_changes."""
    calc = RecordingEMT()
    atoms = cu_cell(0)
    label_one(calc, atoms, fresh=True)
    assert calc.seen[0] == ["energy", "forces", "stress"]
    assert "numbers" in calc.seen[1]
    moved = atoms.copy()
    moved.positions[0, 0] += 0.01
    label_one(calc, moved, fresh=False)
    assert calc.seen[1] == ["positions"]
    assert label_one(calc, moved, fresh=False)["energy"] == pytest.approx(
        fresh_labels(moved)["energy"], abs=1e-12
    )


class NaNEMT(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["energy"] = float("nan")


class NaNChildrenEMT(EMT):
    calls = 0

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        type(self).calls += 1
        if type(self).calls > 1:
            self.results["forces"] = self.results["forces"] * np.nan


def test_a_child_the_calculator_fails_on_is_rejected_at_once(monkeypatch):
    monkeypatch.setattr(growth_module, "MAX_ATTEMPTS", 5)
    augmenter = Augmenter(NaNChildrenEMT(), n_per_structure=2, similarity_threshold=0)
    with pytest.raises(ConfigError, match="5 attempts in a row"):
        list(augmenter.run(cu_cell(0)))
    assert NaNChildrenEMT.calls == 1 + 5


class Float32EMT(EMT):
    """EMT with float32 results, as CHGNet gives them (a numpy.float32 energy)."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results = {
            key: np.float32(value) if np.ndim(value) == 0 else value.astype(np.float32)
            for key, value in self.results.items()
        }


def test_float32_labels_choose_parents_without_error():
    """augment-atoms 0.2.0 builds float32 parent probabilities from them and
    numpy's choice refuses them ("probabilities do not sum to 1"), measured
    with CHGNet; asegen computes the weights in float64."""
    written = list(Augmenter(Float32EMT(), n_per_structure=12, seed=3).run(cu_cell(0)))
    assert len(written) == 12
    assert max(atoms.info["level"] for atoms in written) >= 2  # parents were chosen
    for atoms in written:
        assert (
            atoms.get_potential_energy() == fresh_labels(atoms, Float32EMT())["energy"]
        )


def test_bad_inputs_to_the_python_api():
    with pytest.raises(StructureError, match="non-finite energy"):
        augment([cu_cell(0)], calc=NaNEMT())
    with pytest.raises(DataFormatError, match="no starting structures"):
        augment([])
    with pytest.raises(StructureError, match="has no atoms"):
        augment([Atoms()])
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        Augmenter(EMT(), betta=0.5)
    with pytest.raises(ConfigError, match="ASE calculator"):
        Augmenter("EMT")


def test_resume_from_structures_tops_families_up():
    images = [cu_cell(0), cu_cluster(2)]
    full, _ = augment(images, n_per_structure=6)
    partial = full[:3] + full[6:10]  # 3 + 4 of 6 written before an interruption
    rest = list(
        Augmenter(EMT(), n_per_structure=6, seed=42).run(images, existing=partial)
    )
    assert [a.info["id"] for a in rest] == ["0-3", "0-4", "0-5", "1-4", "1-5"]
    assert signature(rest) == signature(full[3:6] + full[10:])


def test_reorder_releases_families_in_order():
    reorder = Reorder([0, 1, 2])
    a, b, c = Atoms("H"), Atoms("He"), Atoms("Li")
    assert reorder.push(Produced(1, 0, b, None)) == []
    assert reorder.push(Produced(0, 0, a, None)) == [a]
    assert reorder.push(Produced(2, 0, c, None)) == []
    assert reorder.push(Finished(1)) == []
    assert reorder.held() == [b, c]
    reorder = Reorder([0, 1])
    reorder.push(Produced(1, 0, b, None))
    assert reorder.push(Finished(0)) == [b]
