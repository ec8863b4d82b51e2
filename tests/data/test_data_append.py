"""Appending grows files in place; failures and interruptions leave them valid."""

import subprocess
import sys
import textwrap
import warnings

import h5py
import numpy as np
import pytest
from ase import Atoms

import asegen.data._writer as writer_module
from asegen.data import H5Dataset, H5Writer, read, write
from asegen.errors import DataFormatError, StructureError


def _first_chunk(path, name):
    """Address of the first chunk of a dataset and the bytes of its stored rows."""
    with h5py.File(path) as file:
        dataset = file[name]
        info = dataset.id.get_chunk_info_by_coord((0,) * dataset.ndim)
        rows = min(dataset.shape[0], dataset.chunks[0])
        size = rows * dataset.dtype.itemsize * int(np.prod(dataset.shape[1:]))
        length = dataset.shape[0]
    with path.open("rb") as handle:
        handle.seek(info.byte_offset)
        return info.byte_offset, handle.read(size), length


def test_append_extends_datasets_without_rewriting(
    tmp_path, make_mixed, assert_same_atoms
):
    images = make_mixed(300)
    path = tmp_path / "grow.h5"
    write(path, images[:250])
    size = path.stat().st_size
    before = {
        name: _first_chunk(path, name)
        for name in ("atoms/positions", "results/forces/value")
    }
    assert write(path, images[250:], append=True) == 50
    for name, (offset, data, length) in before.items():
        new_offset, new_data, new_length = _first_chunk(path, name)
        assert new_offset == offset  # stored rows stay where they were
        assert new_data[: len(data)] == data
        assert new_length > length
    assert path.stat().st_size - size < size / 2  # grew by the new rows, not a copy
    for expected, actual in zip(images, read(path), strict=True):
        assert_same_atoms(expected, actual)


def test_writer_commits_on_each_flush(tmp_path, mixed):
    path = tmp_path / "stream.h5"
    with H5Writer(path) as writer:
        for count, atoms in enumerate(mixed[:3], start=1):
            writer.append(atoms)
            writer.flush()
            assert len(H5Dataset(path)) == count
        writer.append(mixed[3])
        assert len(H5Dataset(path)) == 3  # queued, not committed
    assert len(H5Dataset(path)) == 4


def test_leaving_with_block_by_exception_keeps_committed(tmp_path, mixed):
    path = tmp_path / "stream.h5"
    with pytest.raises(KeyboardInterrupt), H5Writer(path) as writer:  # noqa: PT012
        writer.append(mixed[0])
        writer.flush()
        writer.append(mixed[1])
        raise KeyboardInterrupt
    assert [atoms.info["index"] for atoms in read(path)] == [0]


def test_killed_process_leaves_committed_structures(tmp_path):
    path = tmp_path / "killed.h5"
    script = f"""
        import os
        from ase.build import bulk
        from asegen.data import H5Writer
        writer = H5Writer({str(path)!r})
        for k in range(3):
            writer.append(bulk("Cu") * (k + 1, 1, 1))
            writer.flush()
        writer.append(bulk("Cu"))
        os._exit(1)  # no cleanup, no close
    """
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=False)
    assert run.returncode == 1
    assert [len(atoms) for atoms in read(path)] == [1, 2, 3]


def test_process_killed_mid_flush_is_repaired(tmp_path, mixed, assert_same_atoms):
    path = tmp_path / "mid.h5"
    write(path, mixed[:4])
    script = f"""
        import os
        import h5py
        from ase.io import read
        from asegen.data import H5Writer

        set_attribute = h5py.AttributeManager.__setitem__

        def die_before_commit(self, name, value):
            if name == "n_structures":
                os._exit(3)  # datasets are extended and flushed, count not raised
            set_attribute(self, name, value)

        h5py.AttributeManager.__setitem__ = die_before_commit
        writer = H5Writer({str(path)!r}, append=True)
        writer.extend(read({str(tmp_path / "more.xyz")!r}, ":"))
        writer.flush()
    """
    import ase.io

    ase.io.write(tmp_path / "more.xyz", mixed[4:8])
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=False)
    assert run.returncode == 3
    with h5py.File(path) as file:
        assert file.attrs["n_structures"] == 4
        assert file["structures/cell"].shape[0] == 8  # the interrupted rows
    assert len(read(path)) == 4  # readers trust the count
    write(path, mixed[8:], append=True)  # the writer cuts the rows back first
    images = read(path)
    assert [atoms.info["index"] for atoms in images] == [0, 1, 2, 3, *range(8, 12)]
    for expected, actual in zip(mixed[:4] + mixed[8:], images, strict=True):
        assert_same_atoms(expected, actual)
    with h5py.File(path) as file:
        assert file["structures/cell"].shape[0] == 8
        assert file["atoms/numbers"].shape[0] == sum(len(a) for a in images)


def test_interrupted_widening_is_undone(tmp_path):
    path = tmp_path / "widen.h5"
    write(path, Atoms("H", info={"n": 1}))
    with h5py.File(path, "r+") as file:  # as if killed while widening int -> float
        group = file["info/n"]
        group.move("value", "value_old")
        group.create_dataset("value", data=np.zeros(7))
    write(path, Atoms("H", info={"n": 2}), append=True)
    assert [atoms.info["n"] for atoms in read(path)] == [1, 2]


def _bad_structures():
    nan = Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]])
    flat = Atoms("H", cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True)
    conflict = Atoms("H", info={"index": "seven"})
    return [
        pytest.param(nan, StructureError, "non-finite position", id="nan"),
        pytest.param(flat, StructureError, "zero volume", id="zero-volume"),
        pytest.param(conflict, DataFormatError, "info key 'index'", id="type-conflict"),
    ]


@pytest.mark.parametrize(("bad", "error", "message"), _bad_structures())
def test_failed_append_leaves_file_unchanged(
    tmp_path, mixed, digest, bad, error, message
):
    path = tmp_path / "keep.h5"
    write(path, mixed[:6])
    before = digest(path)
    with pytest.raises(error, match=message):
        write(path, [*mixed[6:9], bad], append=True)
    assert digest(path) == before
    with H5Writer(path, append=True) as writer:
        writer.append(mixed[6])
        with pytest.raises(error, match=message):
            writer.append(bad)
        assert len(writer) == 7  # the bad structure was never queued
    assert len(read(path)) == 7


def test_failed_append_after_flushes_rolls_back(tmp_path, monkeypatch, make_mixed):
    monkeypatch.setattr(writer_module, "_MAX_PENDING_STRUCTURES", 2)
    images = make_mixed(12)
    path = tmp_path / "roll.h5"
    write(path, images[:5])
    images[9].info["new_key"] = 1.5  # a column the failed call creates
    images[10].positions[0, 0] = np.inf
    with pytest.raises(StructureError):
        write(path, images[5:], append=True)
    with h5py.File(path) as file:
        assert file.attrs["n_structures"] == 5
        assert "new_key" not in file["info"]
        assert file["structures/n_atoms"].shape == (5,)
    assert [atoms.info["index"] for atoms in read(path)] == list(range(5))


def test_failed_write_keeps_the_existing_file(tmp_path, mixed, digest):
    path = tmp_path / "old.h5"
    write(path, mixed[:2])
    before = digest(path)
    bad = Atoms("H", positions=[[np.nan, 0, 0]])
    with pytest.raises(StructureError):
        write(path, [mixed[3], bad])
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.h5"]


def test_failed_flush_cuts_back_and_can_retry(tmp_path, mixed, monkeypatch):
    path = tmp_path / "retry.h5"
    write(path, mixed[:2])
    writer = H5Writer(path, append=True)
    writer.extend(mixed[2:5])
    calls = []
    resize = h5py.Dataset.resize

    def failing_resize(self, size, axis=None):
        calls.append(self.name)
        if len(calls) == 5:
            raise OSError("disk full")
        return resize(self, size, axis)

    monkeypatch.setattr(h5py.Dataset, "resize", failing_resize)
    with pytest.raises(OSError, match="disk full"):
        writer.flush()
    monkeypatch.undo()
    with h5py.File(path) as file:
        assert file.attrs["n_structures"] == 2
        assert {
            file[name].shape[0] for name in ("structures/cell", "structures/pbc")
        } == {2}
    writer.close()  # the queue survived and is written now
    assert [atoms.info["index"] for atoms in read(path)] == [0, 1, 2, 3, 4]


def test_columns_widen_across_appends(tmp_path):
    path = tmp_path / "w.h5"
    first = Atoms("H2", info={"n": 1, "tag": "a"})
    first.new_array("weights", np.array([1, 2]))
    write(path, first)
    second = Atoms("H", info={"n": 0.5, "tag": None})
    second.new_array("weights", np.array([0.25]))
    write(path, second, append=True)
    one, two = read(path)
    assert one.info == {"n": 1.0, "tag": "a"}
    assert type(one.info["n"]) is float
    assert two.info == {"n": 0.5, "tag": None}
    assert one.arrays["weights"].tolist() == [1.0, 2.0]
    assert two.arrays["weights"].dtype == np.float64


def test_append_creates_a_missing_file(tmp_path, mixed):
    path = tmp_path / "new.h5"
    assert write(path, mixed[:2], append=True) == 2
    assert len(read(path)) == 2


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compressed_files_read_the_same(
    tmp_path, mixed, compression, assert_same_atoms
):
    path = tmp_path / f"{compression}.h5"
    write(path, mixed, compression=compression)
    with h5py.File(path) as file:
        assert file["atoms/positions"].compression == compression
    dataset = H5Dataset(path)
    for k in (7, 0, 11, 3):
        assert_same_atoms(mixed[k], dataset[k])


def _late_tags(path):
    """Forty 256-atom Cu cells, then one with tags, each appended and flushed."""
    from ase.build import bulk

    cells = [bulk("Cu", cubic=True).repeat((4, 4, 4)) for _ in range(41)]
    cells[-1].set_tags(np.arange(256) % 3)
    with H5Writer(path) as writer:
        for atoms in cells:
            writer.append(atoms)
            writer.flush()
    return cells


def _stored_chunks(path, name):
    with h5py.File(path) as file:
        dataset = file[name]
        found = []
        dataset.id.chunk_iter(lambda info: found.append(info.chunk_offset[0]))
        return sorted(found), -(-dataset.shape[0] // dataset.chunks[0])


def test_column_appearing_after_a_chunk_of_rows_reads(tmp_path):
    path = tmp_path / "late.h5"
    cells = _late_tags(path)
    stored, n_chunks = _stored_chunks(path, "arrays/tags/value")
    assert len(stored) == n_chunks > 1  # every chunk stored, with its checksum
    images = read(path)
    assert [("tags" in atoms.arrays) for atoms in images] == [False] * 40 + [True]
    np.testing.assert_array_equal(images[-1].get_tags(), cells[-1].get_tags())
    np.testing.assert_array_equal(images[3].positions, cells[3].positions)


def test_late_column_of_an_older_writer_is_repaired_on_append(tmp_path, monkeypatch):
    path = tmp_path / "old.h5"
    with monkeypatch.context() as patch:  # the writer before the fix
        patch.setattr(writer_module, "_store_zeros", lambda *args: None)
        cells = _late_tags(path)
    stored, n_chunks = _stored_chunks(path, "arrays/tags/value")
    assert len(stored) < n_chunks
    refusal = r"never written\); open it for appending once"
    with pytest.raises(DataFormatError, match=refusal):
        read(path)
    with pytest.warns(UserWarning, match="stored 8192 never-written rows"):
        H5Writer(path, append=True).close()
    assert len(_stored_chunks(path, "arrays/tags/value")[0]) == n_chunks
    images = read(path)
    assert len(images) == 41
    np.testing.assert_array_equal(images[-1].get_tags(), cells[-1].get_tags())
    assert "tags" not in images[0].arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired once: no warning again
        write(path, cells[-1], append=True)
    assert len(read(path)) == 42


def test_repair_refuses_a_hole_under_stored_rows(tmp_path):
    path = tmp_path / "hole.h5"
    cells = _late_tags(path)
    for atoms in cells:
        atoms.set_tags(1)
    write(path, cells)
    with h5py.File(path, "r+") as file:  # every chunk of the column lost
        group = file["arrays/tags"]
        attrs = dict(group["value"].attrs)
        shape, chunks = group["value"].shape, group["value"].chunks
        del group["value"]
        value = group.create_dataset(
            "value", shape=shape, maxshape=(None,), chunks=chunks, dtype=np.int64
        )
        value.attrs.update(attrs)
    with pytest.raises(DataFormatError, match="tags/value were never written"):
        H5Writer(path, append=True)
