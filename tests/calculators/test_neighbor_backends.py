"""TorchCalculator's neighbour search option: matscipy and torch agree."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from calculator_factories import ALIGNN_COMPATIBLE, alignn_model

import asegen.calculators.alignn as alignn_calculators
from asegen.calculators import ALIGNNCalculator
from asegen.errors import ConfigError
from asegen.models.checkpoint import save_checkpoint


def calculator(neighbors="auto", **options):
    model = alignn_model(**options)
    return ALIGNNCalculator(
        model, device="cpu", dtype=torch.float64, neighbors=neighbors
    )


def structures():
    alloy = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    alloy.symbols[::3] = "Au"
    alloy.rattle(0.1, seed=0)
    ethanol = molecule("CH3CH2OH")  # zero cell, no periodicity
    ethanol.rattle(0.05, seed=1)
    return {"periodic": alloy, "molecule": ethanol}


def evaluate(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    return dict(calc.results)


def assert_same_results(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-10, err_msg=key)


@pytest.mark.parametrize(
    "options", [{}, ALIGNN_COMPATIBLE], ids=["radius", "nearest-12"]
)
@pytest.mark.parametrize("name", ["periodic", "molecule"])
def test_torch_and_matscipy_search_give_the_same_results(name, options):
    atoms = structures()[name]
    by_torch = calculator(neighbors="torch", **options)
    by_matscipy = calculator(neighbors="matscipy", **options)
    assert by_torch.neighbors == "torch"
    assert by_matscipy.neighbors == "matscipy"
    torch_results = evaluate(by_torch, atoms)
    assert_same_results(torch_results, evaluate(by_matscipy, atoms))
    assert ("stress" in torch_results) == (name == "periodic")


@pytest.mark.parametrize(
    "options", [{}, ALIGNN_COMPATIBLE], ids=["radius", "nearest-12"]
)
def test_batches_agree_between_searches(options):
    images = list(structures().values()) * 2
    by_torch = calculator(neighbors="torch", **options)
    by_matscipy = calculator(neighbors="matscipy", **options)
    batch = by_torch.calculate_batch(images, batch_size=3)
    for got, want in zip(
        batch, by_matscipy.calculate_batch(images, batch_size=3), strict=True
    ):
        assert_same_results(got, want)
    for got, atoms in zip(batch, images, strict=True):  # and equal to calculate
        assert_same_results(got, evaluate(by_torch, atoms))


def test_torch_skin_list_is_reused_across_steps():
    atoms = structures()["periodic"]
    calc = calculator(neighbors="torch")
    atoms.calc = calc
    for _ in range(5):
        atoms.positions += 0.01
        atoms.get_forces()
    assert calc._neighbors.searches == 1


def test_auto_picks_matscipy_on_the_cpu_and_bad_names_are_refused():
    assert calculator().neighbors == "matscipy"
    with pytest.raises(ConfigError, match="neighbors must be one of"):
        calculator(neighbors="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_picks_torch_on_cuda():
    calc = ALIGNNCalculator(alignn_model(), device="cuda", dtype=torch.float64)
    assert calc.neighbors == "torch"
    assert_same_results(
        evaluate(calc, structures()["periodic"]),
        evaluate(calculator(neighbors="matscipy"), structures()["periodic"]),
    )


def test_load_and_from_alignn_pass_the_option_through(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "model.pt", alignn_model())
    loaded = ALIGNNCalculator.load(
        tmp_path / "model.pt", device="cpu", neighbors="torch"
    )
    assert loaded.neighbors == "torch"
    monkeypatch.setattr(
        alignn_calculators,
        "load_alignn_run",
        lambda path: (alignn_model(), {"dtype": "float64"}),
    )
    converted = ALIGNNCalculator.from_alignn(tmp_path, device="cpu", neighbors="torch")
    assert converted.neighbors == "torch"
