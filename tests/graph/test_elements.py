import hashlib
from importlib import resources

import pytest
import torch

from asegen.graph.elements import ELEMENT_TABLE_WIDTHS, element_table


def test_cgcnn_table_is_the_file_jarvis_tools_ships():
    data = resources.files("asegen.graph").joinpath("tables/cgcnn_atom_init.json")
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert digest == "aab9b30f300e1b871b560ef2a715c4356880349293b222b4a14608ff872c80fe"


@pytest.mark.parametrize("name", list(ELEMENT_TABLE_WIDTHS))
def test_tables_have_one_row_per_atomic_number(name):
    table = element_table(name)
    assert table.shape == (119, ELEMENT_TABLE_WIDTHS[name])
    assert table.dtype == torch.float64
    assert not table[0].any() or name == "atomic_number"


def test_table_contents():
    cgcnn = element_table("cgcnn")
    assert set(cgcnn[1:101].unique().tolist()) == {0.0, 1.0}  # one-hot blocks
    assert cgcnn[2].sum() == 7  # helium lacks some data: 7 blocks set
    assert torch.equal(cgcnn[110], cgcnn[100])  # alignn reuses Z = 100 above it
    basic = element_table("basic")
    silicon = [14, 14, 3, 1.9, 1.1, 2, 2, 0, 0, 8.15168, 1.336]
    assert basic[14].tolist() == pytest.approx(silicon)
    assert element_table("atomic_number")[26, 0] == 26


def test_tables_are_fresh_copies():
    table = element_table("basic")
    table[14] = 0
    assert element_table("basic")[14, 0] == 14
