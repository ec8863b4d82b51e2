"""The calculator refuses elements its model never saw in training."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import read
from calculator_factories import TINY

from asegen.calculators import ALIGNNCalculator
from asegen.errors import StructureError
from asegen.models.alignn import ALIGNN, ALIGNNConfig
from asegen.models.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    set_trained_elements,
    trained_elements,
)
from asegen.train import TrainConfig, train


def cu_au_model():
    torch.manual_seed(0)
    model = ALIGNN(ALIGNNConfig(**TINY))
    set_trained_elements(model, [79, 29, 29])
    return model


def test_training_records_the_elements_of_the_training_split(tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(epochs=1, batch_size=4, n_train=4, n_val=2, n_test=0)
    run = train(ALIGNN(ALIGNNConfig(**TINY)),
                read("examples/data/cu_au_emt.xyz", index=":6"),
                config=config, out=tmp_path)  # fmt: skip
    for name in ("best.pt", "last.pt"):
        model, _ = load_checkpoint(run / "checkpoints" / name)
        assert trained_elements(model) == (29, 79)


@pytest.mark.parametrize(
    ("symbol", "number", "message"),
    [
        ("Ag", None, "holds Ag (Z=47), which the model never saw in training (it "
         "was trained on Cu, Au); pass allow_unknown_elements=True"),
        ("Cu", 0, "holds no element (Z=0)"),
        ("Cu", 118, "holds Og (Z=118)"),
    ],
)  # fmt: skip
def test_an_unknown_element_is_refused_in_one_line(tmp_path, symbol, number, message):
    save_checkpoint(tmp_path / "ff.pt", cu_au_model())
    calc = ALIGNNCalculator.load(tmp_path / "ff.pt", device="cpu")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms[1].symbol = symbol
    if number is not None:
        atoms.numbers[2] = number
    atoms.calc = calc
    with pytest.raises(StructureError) as error:
        atoms.get_potential_energy()
    assert message in str(error.value)
    with pytest.raises(StructureError, match="never saw in training"):
        calc.calculate_batch([bulk("Au", cubic=True), atoms])


def test_unknown_elements_are_allowed_when_asked_or_when_unrecorded(tmp_path):
    silver = bulk("Ag", "fcc", a=4.1, cubic=True)
    allowed = ALIGNNCalculator(cu_au_model(), device="cpu", allow_unknown_elements=True)
    assert allowed.elements is None
    assert np.isfinite(allowed.calculate_batch([silver])[0]["energy"])
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "old.pt", ALIGNN(ALIGNNConfig(**TINY)))  # no record
    old = ALIGNNCalculator.load(tmp_path / "old.pt", device="cpu")
    assert old.elements is None
    silver.calc = old
    assert isinstance(silver.get_potential_energy(), float)
