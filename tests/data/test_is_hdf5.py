"""HDF5 files are told by their signature, as h5py tells them, without h5py."""

import ase.io
import h5py
import pytest
from ase.build import bulk

from asegen.data import write
from asegen.data._layout import is_hdf5


@pytest.mark.parametrize("userblock", [0, 512, 4096])
def test_hdf5_files_are_found_after_any_user_block(tmp_path, userblock):
    path = tmp_path / "plain.hdf"
    with h5py.File(path, "w", userblock_size=userblock) as file:
        file["x"] = [1, 2]
    assert is_hdf5(path)
    assert h5py.is_hdf5(path)


def test_other_files_are_not_hdf5(tmp_path):
    xyz, empty, asegen_file = tmp_path / "a.xyz", tmp_path / "e.h5", tmp_path / "c.h5"
    ase.io.write(xyz, [bulk("Cu")] * 200)  # longer than 512 bytes
    empty.touch()
    write(asegen_file, [bulk("Cu")])
    assert [is_hdf5(p) for p in (xyz, empty, asegen_file)] == [False, False, True]
    assert [h5py.is_hdf5(p) for p in (xyz, empty, asegen_file)] == [False, False, True]
    assert not is_hdf5(tmp_path / "missing.h5")
    assert not is_hdf5(tmp_path)  # a folder
