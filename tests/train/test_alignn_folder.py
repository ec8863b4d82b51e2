"""alignn training folders as --data (id_prop.json with jarvis atoms, id_prop.csv)."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from ase.units import GPa

from asegen.data import read_structures
from asegen.data._alignn import read_alignn_folder
from asegen.errors import DataFormatError, InputNotFoundError


def jarvis_record(atoms, k):
    atoms.calc = EMT()
    return {
        "jid": f"cell-{k}",
        "atoms": {
            "lattice_mat": atoms.cell.array.tolist(),
            "coords": atoms.get_scaled_positions(wrap=False).tolist(),
            "elements": atoms.get_chemical_symbols(),
            "cartesian": False,
        },
        "energy_per_atom": atoms.get_potential_energy() / len(atoms),
        "forces": atoms.get_forces().tolist(),
        "stresses": (atoms.get_stress(voigt=False) / GPa).tolist(),  # GPa, as alignn
    }


def test_id_prop_json_becomes_labelled_atoms_in_ase_units(tmp_path):
    cells = [bulk("Cu", cubic=True), bulk("Au", cubic=True).repeat((2, 1, 1))]
    for atoms in cells:
        atoms.rattle(0.05, seed=1)
    records = [jarvis_record(a.copy(), k) for k, a in enumerate(cells)]
    (tmp_path / "id_prop.json").write_text(json.dumps(records))
    images = read_structures(tmp_path)
    assert len(images) == 2
    for atoms, original in zip(images, cells, strict=True):
        np.testing.assert_allclose(atoms.positions, original.positions, atol=1e-10)
        original.calc = EMT()
        assert atoms.get_potential_energy() == pytest.approx(
            original.get_potential_energy()
        )
        np.testing.assert_allclose(
            atoms.get_forces(), original.get_forces(), atol=1e-12
        )
        np.testing.assert_allclose(
            atoms.get_stress(), original.get_stress(), atol=1e-12
        )
    assert images[1].info["id"] == "cell-1"


def test_id_prop_csv_reads_structure_files(tmp_path):
    write(tmp_path / "a.vasp", bulk("Si"), format="vasp")
    write(tmp_path / "b.vasp", bulk("Cu"), format="vasp")
    (tmp_path / "id_prop.csv").write_text("a.vasp,1.5\nb.vasp,2.5,3.5\n")
    images = read_alignn_folder(tmp_path)
    assert [a.info["target"] for a in images] == [1.5, [2.5, 3.5]]
    assert images[1].get_chemical_symbols() == ["Cu"]


def test_folder_errors(tmp_path):
    with pytest.raises(DataFormatError, match="id_prop"):  # an empty folder
        read_structures(tmp_path)
    (tmp_path / "id_prop.json").write_text("[{}]")
    with pytest.raises(DataFormatError, match="record 0"):
        read_structures(tmp_path)
    (tmp_path / "id_prop.json").unlink()
    (tmp_path / "id_prop.csv").write_text("missing.vasp,1.0\n")
    with pytest.raises(InputNotFoundError, match=r"missing\.vasp"):
        read_structures(tmp_path)
