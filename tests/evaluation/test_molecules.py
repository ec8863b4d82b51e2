"""Evaluation of generated molecules by RDKit bond perception (gschnet spec 13)."""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.collections import g2
from ase.io import write
from click.testing import CliRunner

from asegen.cli import main
from asegen.errors import ConfigError, DataFormatError, StructureError
from asegen.evaluation import evaluate_molecules
from asegen.evaluation.perception import MoleculeOptions, perceive

pytest.importorskip("rdkit")

# Spec 13.3: hand-written canonical non-isomeric SMILES of 25 g2 molecules.
G2_SMILES = {
    "CH4": "C", "NH3": "N", "H2O": "O", "HF": "F", "C2H2": "C#C", "C2H4": "C=C",
    "C2H6": "CC", "HCN": "C#N", "CO": "[C-]#[O+]", "H2CO": "C=O", "CH3OH": "CO",
    "N2": "N#N", "CO2": "O=C=O", "C6H6": "c1ccccc1", "CH3CHO": "CC=O",
    "HCOOH": "O=CO", "CH3CN": "CC#N", "CH3NO2": "C[N+](=O)[O-]",
    "C4H4O": "c1ccoc1", "C5H5N": "c1ccncc1", "CH3COOH": "CC(=O)O",
    "C3H4_C2v": "C1=CC1", "CH2_s1A1d": "[CH2]", "H2CCO": "C=C=O",
    "CH3CONH2": "CC(N)=O",
}  # fmt: skip
CHARGED = {"CO", "CH3NO2"}  # need formal charges: [C-]#[O+], C[N+](=O)[O-]
CARBENE = "CH2_s1A1d"  # singlet CH2: two radical electrons for RDKit


def g2_molecules():
    return [g2[name] for name in G2_SMILES]


def far_apart(first, second, gap=10.0):
    """Two molecules in one structure, ``gap`` Å apart along x."""
    other = second.copy()
    other.translate([gap, 0.0, 0.0])
    return first + other


def chiral(mirror=False):
    """CHFClBr on a tetrahedron: a stereocentre; ``mirror`` is its enantiomer."""
    directions = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / 3**0.5
    lengths = np.array([1.09, 1.35, 1.77, 1.94])[:, None]  # H, F, Cl, Br
    positions = np.vstack([[0.0, 0.0, 0.0], directions * lengths])
    if mirror:
        positions[:, 0] *= -1
    return Atoms("CHFClBr", positions=positions)


def sulfur_chain(n=12):
    """A zigzag S_n chain: RDKit's bond-order search takes ~0.1-1 s at n=12."""
    return Atoms(f"S{n}", positions=[[1.7 * i, 1.1 * (i % 2), 0.0] for i in range(n)])


def test_g2_strict_matches_22_of_25_reference_smiles():
    report = evaluate_molecules(g2_molecules())
    status = dict(zip(G2_SMILES, report.status, strict=True))
    smiles = dict(zip(G2_SMILES, report.smiles, strict=True))
    exact = [n for n, s in G2_SMILES.items() if smiles[n] == s and status[n] == "valid"]
    assert len(exact) == 22
    assert set(G2_SMILES) - set(exact) == CHARGED | {CARBENE}
    assert status["CO"] == status["CH3NO2"] == "sanitize_failed"
    assert status[CARBENE] == "radical"
    assert smiles[CARBENE] == "[CH2]"
    assert all(report.connected)
    summary = {m.key: m for m in report.metrics()}
    assert (summary["valid"].count, summary["valid"].total) == (22, 25)
    counts = {k[7:]: m.count for k, m in summary.items() if k.startswith("status_")}
    assert counts == {
        "valid": 22, "empty": 0, "parse_failed": 0, "bond_order_failed": 0,
        "sanitize_failed": 2, "radical": 1, "charged": 0, "disconnected": 0,
        "timeout": 0,
    }  # fmt: skip
    assert "novel" not in summary  # no reference, no novelty


def test_g2_with_charged_fragments_matches_24_of_25():
    report = evaluate_molecules(g2_molecules(), allow_charged_fragments=True)
    wrong = [
        name
        for name, status, smiles in zip(
            G2_SMILES, report.status, report.smiles, strict=True
        )
        if status != "valid" or smiles != G2_SMILES[name]
    ]
    assert wrong == [CARBENE]
    assert report.status[list(G2_SMILES).index(CARBENE)] == "radical"


def test_radicals_and_charges_are_rejected_unless_allowed():
    carbene, co = g2[CARBENE], g2["CO"]
    assert perceive(carbene, MoleculeOptions(allow_radicals=True)).status == "valid"
    strict = MoleculeOptions()
    assert perceive(co, strict).status == "sanitize_failed"
    charged = perceive(co, MoleculeOptions(allow_charged_fragments=True))
    assert charged == ("valid", "[C-]#[O+]", True)


def test_each_failure_has_its_status():
    assert perceive(Atoms("X"), MoleculeOptions()).status == "parse_failed"
    squeezed = Atoms("He2", positions=[[0, 0, 0], [0, 0, 0.5]])
    assert perceive(squeezed, MoleculeOptions()).status == "sanitize_failed"
    ammonium = g2["NH3"] + Atoms("H", positions=[[0.0, 0.0, 1.14]])  # N at z 0.12
    with pytest.raises(ConfigError, match="charge=1 needs allow_charged_fragments"):
        MoleculeOptions(charge=1)  # every molecule would fail its bond orders
    cation = perceive(ammonium, MoleculeOptions(charge=1, allow_charged_fragments=True))
    assert cation == ("valid", "[NH4+]", True)
    assert perceive(Atoms(), MoleculeOptions()) == ("empty", None, False)


def test_two_molecules_far_apart_are_disconnected():
    result = perceive(far_apart(g2["H2O"], g2["CH4"]), MoleculeOptions())
    assert result.status == "disconnected"
    assert result.smiles == "C.O"
    assert result.connected is False
    report = evaluate_molecules([far_apart(g2["H2O"], g2["CH4"]), g2["CH4"]])
    assert report.status == ["disconnected", "valid"]
    assert report.connected == [False, True]


def test_uniqueness_and_novelty_of_a_small_set():
    moved = g2["CH4"].copy()
    moved.rotate(37, "z")
    moved.translate([3.0, -1.0, 2.0])
    samples = [g2["CH4"], moved, g2["H2O"], g2["C2H6"], g2["CO"], Atoms()]
    # reference: methane perceived from its geometry, water from info['smiles']
    # in a non-canonical spelling on an empty structure (never perceived)
    reference = [g2["CH4"], Atoms(info={"smiles": "[H]O[H]"})]
    report = evaluate_molecules(samples, reference)
    assert report.status == ["valid"] * 4 + ["sanitize_failed", "empty"]
    assert report.unique_valid == ["C", "O", "CC"]
    assert report.reference_smiles == {"C", "O"}
    m = {row.key: row for row in report.metrics()}
    assert (m["valid"].count, m["valid"].total) == (4, 6)
    assert (m["unique"].count, m["unique"].total) == (3, 4)
    assert (m["valid_unique"].count, m["valid_unique"].total) == (3, 6)
    assert (m["novel"].count, m["novel"].total) == (1, 3)  # only ethane is new
    assert m["novel"].value == pytest.approx(1 / 3)
    assert m["status_empty"].count == 1
    assert report.novel == [False, False, False, True, None, None]


def test_isomeric_smiles_tell_enantiomers_apart():
    pair = [chiral(), chiral(mirror=True)]
    flat = evaluate_molecules(pair)
    assert flat.smiles[0] == flat.smiles[1]
    assert "@" not in flat.smiles[0]
    stereo = evaluate_molecules(pair, isomeric=True)
    assert stereo.status == ["valid", "valid"]
    assert {"@" in s and "@@" not in s for s in stereo.smiles} == {True, False}
    assert len(flat.unique_valid) == 1
    assert len(stereo.unique_valid) == 2


def test_huckel_connectivity_gives_the_same_bonds_on_simple_molecules():
    names = ["C6H6", "CO2", "CH3CN", "CH3COOH"]
    report = evaluate_molecules([g2[n] for n in names], huckel=True)
    assert report.smiles == [G2_SMILES[n] for n in names]
    assert report.settings["huckel"] is True


def test_timeout_marks_a_slow_molecule_and_spares_the_rest():
    perceive(g2["CH4"], MoleculeOptions(timeout=None))  # RDKit's first call is slow
    report = evaluate_molecules([sulfur_chain(), g2["CH4"]], timeout=0.05)
    assert report.status == ["timeout", "valid"]
    assert perceive(sulfur_chain(), MoleculeOptions(timeout=None)).status != "timeout"


def test_no_timeout_outside_the_main_thread():
    found = []
    options = MoleculeOptions(timeout=0.01)
    thread = threading.Thread(
        target=lambda: found.append(perceive(sulfur_chain(), options))
    )
    thread.start()
    thread.join()
    assert found[0].status != "timeout"


def test_settings_record_the_rdkit_version_and_every_option():
    from rdkit import rdBase

    report = evaluate_molecules([g2["CH4"]], charge=0, timeout=2.0, isomeric=True)
    assert report.settings == {
        "rdkit": rdBase.rdkitVersion, "charge": 0,
        "allow_charged_fragments": False, "allow_radicals": False,
        "isomeric": True, "huckel": False, "vdw": False, "cov_factor": 1.3,
        "timeout": 2.0,
    }  # fmt: skip
    table = report.table()
    assert f"RDKit {rdBase.rdkitVersion}" in table
    assert "isomeric=True" in table
    data = json.loads(json.dumps(report.to_dict()))
    assert data["samples"] == {
        "status": ["valid"],
        "smiles": ["C"],
        "connected": [True],
        "novel": [None],
    }
    assert data["summary"]["valid"] == {"value": 1.0, "count": 1, "total": 1}


def test_periodic_structures_are_refused_in_one_line():
    with pytest.raises(StructureError, match="sample 1 is periodic") as err:
        evaluate_molecules([g2["CH4"], bulk("Cu")])
    assert "\n" not in str(err.value)
    with pytest.raises(StructureError, match="reference structure 0 is periodic"):
        evaluate_molecules([g2["CH4"]], [bulk("Cu")])


def test_unreadable_reference_smiles_and_inconsistent_options_are_one_line():
    with pytest.raises(
        DataFormatError, match=r"reference structure 1: info\['smiles'\]"
    ):
        evaluate_molecules([g2["CH4"]], [g2["H2O"], Atoms(info={"smiles": "C(("})])
    with pytest.raises(ConfigError, match="without vdw"):
        evaluate_molecules([g2["CH4"]], cov_factor=1.2)
    assert evaluate_molecules([g2["CH4"]], vdw=True, cov_factor=1.2).status == ["valid"]


def test_missing_rdkit_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path / "s.xyz", [g2["CH4"]])
    for name in [m for m in sys.modules if m == "rdkit" or m.startswith("rdkit.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rdkit", None)  # import rdkit -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "asegen\[molecules\]"') as err:
        evaluate_molecules([g2["CH4"]])
    assert "\n" not in str(err.value)
    result = CliRunner().invoke(
        main, ["evaluate", str(tmp_path / "s.xyz"), "--molecules"]
    )
    assert result.exit_code == 2
    assert 'pip install "asegen[molecules]"' in result.output


def test_importing_asegen_does_not_import_rdkit():
    code = (
        "import sys, asegen, asegen.evaluation, asegen.cli; "
        "sys.exit('rdkit' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cli_molecules_with_reference_and_json(tmp_path):
    samples, reference, out = (
        tmp_path / "s.xyz",
        tmp_path / "r.xyz",
        tmp_path / "e.json",
    )
    write(samples, [g2["CH4"], g2["H2O"], g2["CO"], far_apart(g2["H2O"], g2["HF"])])
    write(reference, [g2["CH4"]])
    args = ["evaluate", str(samples), "--molecules", "-r", str(reference)]
    result = CliRunner().invoke(
        main, [*args, "--allow-charged-fragments", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "novel (of valid and unique)" in result.output
    data = json.loads(out.read_text())
    assert data["samples"]["status"] == ["valid", "valid", "valid", "disconnected"]
    assert data["samples"]["smiles"] == ["C", "O", "[C-]#[O+]", "F.O"]
    assert data["summary"]["novel"] == {"value": 2 / 3, "count": 2, "total": 3}
    assert data["samples"]["novel"] == [False, True, True, None]
    assert data["settings"]["allow_charged_fragments"] is True
    assert data["settings"]["timeout"] == 5.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--reference is required to evaluate crystals"),
        (["--molecules", "--calculator", "x"], "--calculator applies only to crystals"),
        (["-r", "s.xyz", "--charge", "1"], "--charge applies only to molecules"),
        (["--molecules", "--cov-factor", "1.1"], "has no effect without vdw"),
    ],
)
def test_cli_mistakes_are_one_line_with_exit_2(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    write("s.xyz", [g2["CH4"]])
    result = CliRunner().invoke(main, ["evaluate", "s.xyz", *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("Error:") == 1
    assert not (tmp_path / "evaluation.png").exists()


def test_cli_refuses_periodic_samples(tmp_path):
    write(tmp_path / "cu.xyz", bulk("Cu"))
    result = CliRunner().invoke(
        main, ["evaluate", str(tmp_path / "cu.xyz"), "--molecules"]
    )
    assert result.exit_code == 2
    assert "sample 0 is periodic" in result.output
    assert "Traceback" not in result.output
