"""H5Dataset: lazy random access, safe in DataLoader workers."""

import multiprocessing
import os
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

import asegen.data._construct as construct
from asegen.data import H5Dataset, read, write


@pytest.fixture
def path(tmp_path, make_mixed):
    """A file of 200 structures: runs of them cross HDF5 chunk boundaries."""
    target = tmp_path / "many.h5"
    write(target, make_mixed(200))
    return target


def test_indexing(path, make_mixed, assert_same_atoms):
    images = make_mixed(200)
    dataset = H5Dataset(path)
    assert len(dataset) == 200
    assert_same_atoms(images[17], dataset[17])
    assert_same_atoms(images[-1], dataset[-1])
    assert [a.info["index"] for a in dataset[190:]] == list(range(190, 200))
    assert [a.info["index"] for a in dataset[::-70]] == [199, 129, 59]
    assert [a.info["index"] for a in dataset.__getitems__([5, 4, 5, -1])] == [
        5,
        4,
        5,
        199,
    ]
    with pytest.raises(IndexError, match="out of range for 200 structures"):
        dataset[200]
    with pytest.raises(IndexError):
        dataset[-201]


def test_iteration_matches_read(path, assert_same_atoms):
    for expected, actual in zip(read(path), H5Dataset(path), strict=True):
        assert_same_atoms(expected, actual)


def test_returned_atoms_are_independent(path):
    dataset = H5Dataset(path)
    first = dataset[3]
    first.positions += 1.0
    first.calc.results["forces"][:] = 0.0
    again = dataset[3]
    assert (again.positions != first.positions).all()
    assert again.calc.results["forces"].any()
    assert first.calc.check_state(first) == [
        "positions"
    ]  # labels belong to the old geometry


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_workers_read_what_read_returns(
    path, assert_same_atoms, start_method
):
    dataset = H5Dataset(path)
    dataset[0]  # open in the parent first: workers must not use that handle
    loader = DataLoader(
        dataset,
        batch_size=16,
        shuffle=True,
        num_workers=2,
        collate_fn=list,
        multiprocessing_context=start_method,
        generator=torch.Generator().manual_seed(0),
    )
    seen = {atoms.info["index"]: atoms for batch in loader for atoms in batch}
    expected = read(path)
    assert sorted(seen) == list(range(200))
    for k in (0, 57, 199):
        assert_same_atoms(expected[k], seen[k])


def _read_in_child(dataset, queue):
    atoms = dataset[7]
    queue.put((dataset._pid == os.getpid(), atoms.info["index"]))


def test_forked_child_opens_its_own_handle(path):
    dataset = H5Dataset(path)
    dataset[0]
    parent_reader = dataset._reader
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(dataset, queue))
    child.start()
    assert queue.get(timeout=30) == (True, 7)
    child.join()
    assert dataset._reader is parent_reader
    assert dataset._pid == os.getpid()


def test_pickles_without_its_handle(path, assert_same_atoms):
    dataset = H5Dataset(path)
    dataset[0]
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._reader is None
    assert_same_atoms(dataset[42], copy[42])


def test_length_is_fixed_at_creation(path, mixed):
    dataset = H5Dataset(path)
    write(path, mixed, append=True)
    assert len(dataset) == 200
    assert len(H5Dataset(path)) == 212


def test_public_constructors_give_the_same_atoms(path, monkeypatch, assert_same_atoms):
    """The fast construction path equals ASE's constructors, and is in use."""
    assert construct._direct_is_exact()
    fast = read(path, "::40")
    monkeypatch.setattr(construct, "_direct_is_exact", lambda: False)
    slow = read(path, "::40")
    for first, second in zip(fast, slow, strict=True):
        assert_same_atoms(first, second)
        assert vars(first).keys() == vars(second).keys()
        assert vars(first.calc).keys() == vars(second.calc).keys()


def test_plain_h5py_opens_a_file_an_h5dataset_reads(tmp_path):
    import h5py
    from ase.build import bulk

    from asegen.data import H5Dataset, H5Writer, write
    from asegen.errors import DataFormatError

    path = tmp_path / "cu.h5"
    write(path, [bulk("Cu")])
    dataset = H5Dataset(path)
    assert dataset[0].get_chemical_formula() == "Cu"  # the file is open now
    with h5py.File(path) as handle:  # the order docs/data-format.md shows
        assert "structures" in handle
    with pytest.raises(DataFormatError, match="is open for reading in this process"):
        H5Writer(path, append=True)
    dataset.close()
    with H5Writer(path, append=True) as writer:
        writer.append(bulk("Au"))
    assert len(H5Dataset(path)) == 2
