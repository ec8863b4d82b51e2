"""Read starting structures; read, append to and resume augment outputs.

The output format follows the file's extension: ``.xyz``/``.extxyz``
(extended XYZ), ``.db`` (ASE database) or ``.h5``/``.hdf5`` (asegen HDF5).
Every structure is appended and flushed on its own, with SIGINT/SIGTERM held
back while it is written, so an interrupted run leaves a valid file holding
everything finished. ASE databases reject ``starting-structure`` and ``id`` as
keys; there they are stored as ``starting_structure`` and ``structure_id``.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from ase import Atoms

from asegen.augment.family import START_KEY
from asegen.errors import ConfigError, InputNotFoundError

__all__ = [
    "OutputWriter",
    "output_format",
    "output_lock",
    "read_existing",
    "read_inputs",
    "resumed_seed",
]

_FORMATS = {
    ".xyz": "extxyz",
    ".extxyz": "extxyz",
    ".db": "db",
    ".h5": "h5",
    ".hdf5": "h5",
}
_DB_KEYS = {START_KEY: "starting_structure", "id": "structure_id"}


def output_format(path: str | os.PathLike) -> str:
    """``"extxyz"``, ``"db"`` or ``"h5"`` for an output path.

    Raises
    ------
    ConfigError
        For another extension.
    InputNotFoundError
        If the output's folder does not exist.
    """
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot write output {target}: name it .xyz, .extxyz, .db or .h5"
        )
    if not target.parent.is_dir():
        raise InputNotFoundError(
            f"the folder of the output {target} does not exist; create it first"
        )
    return fmt


def read_inputs(path: str | os.PathLike) -> list[Atoms]:
    """Read the starting structures: all :func:`asegen.data.read_structures` reads.

    Raises
    ------
    InputNotFoundError
        If the path does not exist (a name is never taken as a dataset).
    DataFormatError
        If it cannot be read or holds no structures.
    """
    from asegen.data import read_structures

    return list(read_structures(path))


def read_existing(path: str | os.PathLike, fmt: str) -> list[Atoms]:
    """Read the structures of an output: none if it does not exist or holds none yet.

    A run stopped before its first structure leaves an output holding none. An
    extxyz frame cut off by ``kill -9`` in the middle of its write is removed
    from the end of the file first (the rerun makes it again), with a notice;
    an HDF5 output is opened for appending once, which repairs what a killed
    writer left (see docs/data-format.md).
    Call it while holding :func:`output_lock`.
    """
    source = Path(path)
    if fmt == "extxyz" and source.exists():
        _drop_torn_frame(source)
    if fmt == "h5" and source.exists():
        from asegen.data import H5Writer

        H5Writer(source, append=True).close()  # repairs what a kill left
    if not source.exists() or _holds_none(source, fmt):
        return []
    from asegen.data import read_structures

    frames = list(read_structures(source, format=None if fmt == "h5" else fmt))
    if fmt == "db":
        for atoms in frames:
            for key, stored in _DB_KEYS.items():
                if stored in atoms.info:
                    atoms.info[key] = atoms.info.pop(stored)
    return frames


def resumed_seed(
    info: dict[str, Any],
    seed: int | None,
    batch_size: int,
    output: str | os.PathLike,
    *,
    generator: str,
    command: str,
    unit: str,
) -> int:
    """Return the seed that continues ``output``, whose written structure has ``info``.

    A generator's output resumes only with the seed and batch size it was
    written with (the stream of structures depends on both). ``generator``
    is the ``info["generator"]`` its writer stores, ``command`` names that
    writer in messages, ``unit`` what a batch holds ("samples", "structures").

    Raises
    ------
    ConfigError
        For structures of another writer, another seed or batch size.
    """
    if "seed" not in info or info.get("generator") != generator:
        raise ConfigError(
            f"{output} holds structures that {command} did not write; use "
            "another output"
        )
    stored = int(info["seed"])
    if seed is not None and seed != stored:
        raise ConfigError(
            f"{output} holds {unit} of seed {stored}; rerun with --seed {stored} to "
            "continue it, or write to another output"
        )
    if int(info.get("batch_size", batch_size)) != batch_size:
        raise ConfigError(
            f"{output} was written with --batch-size {info['batch_size']}; use it "
            f"again to continue the same {unit}"
        )
    return stored


def _drop_torn_frame(path: Path) -> None:
    """Truncate ``path`` after its last whole extxyz frame, if lines are missing."""
    end = _whole_frames_end(path)
    if end is not None and end < path.stat().st_size:
        print(
            f"notice: removing the last structure of {path}: its run was stopped "
            "in the middle of writing it",
            file=sys.stderr,
        )
        with path.open("r+b") as handle:
            handle.truncate(end)


def _whole_frames_end(path: Path) -> int | None:
    """Byte offset after the last whole frame; None if a count line is not a number.

    A frame is whole when its count line, comment line and one line per atom
    are all there, each ending in a newline (as every writer of extxyz ends
    them; a frame dropped here is made again by the rerun).
    """
    end = 0
    with path.open("rb") as handle:
        while header := handle.readline():
            if not header.endswith(b"\n"):
                return end  # cut in its count line
            try:
                count = int(header)
            except ValueError:
                return None  # not extxyz as augment writes it: the reader says so
            lines = [handle.readline() for _ in range(count + 1)]
            if not all(line.endswith(b"\n") for line in lines):
                return end
            end = handle.tell()
    return end


def _holds_none(path: Path, fmt: str) -> bool:
    if fmt == "h5":
        from asegen.data import H5Dataset

        return len(H5Dataset(path)) == 0
    if fmt == "db":
        import ase.db

        try:
            return ase.db.connect(path, type="db").count() == 0
        except Exception:  # not a database: reading it names the problem
            return False
    return path.stat().st_size == 0


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``OUT.asegen-lock`` (POSIX ``flock``) while a run reads and appends to OUT.

    The lock sits next to the file OUT resolves to, so two names of one file
    (a symlink, ``..``) share it. It holds the run's process id: a lock left
    by a run that was killed is taken over with a one-line notice on stderr,
    and a refusal names the run that holds it. Processes forked while it is
    held (worker processes) do not hold it: it is released when the run ends,
    however it ends.

    Raises
    ------
    ConfigError
        If another process holds it: two runs on one output would both top
        up the same families.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no protection
        yield
        return
    target = Path(path).resolve()  # a symlink's target, even one not created yet
    lock = target.with_name(f"{target.name}.asegen-lock")  # not .lock: ASE db's
    while True:
        handle = lock.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _recorded_pid(handle)
            handle.close()
            raise ConfigError(_held_message(path, lock, holder)) from None
        if _is_file_at(handle, lock):
            break
        handle.close()  # its holder removed it as we opened it: lock the new one
    with handle:
        previous = _recorded_pid(handle)
        if previous is not None and previous != os.getpid():
            print(
                f"notice: taking over {lock}, left by run {previous}, which was "
                "stopped before it could remove it",
                file=sys.stderr,
            )
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _HELD_LOCKS.add(handle.fileno())
        try:
            yield
        finally:
            _HELD_LOCKS.discard(handle.fileno())
            lock.unlink(missing_ok=True)  # while still held: see _is_file_at


_HELD_LOCKS: set[int] = set()
"""File descriptors of the output locks this process holds."""


def _release_in_child() -> None:
    """In a forked child, point the inherited lock descriptors at ``/dev/null``.

    A ``flock`` lasts as long as any process has the locked file open: a
    forked worker that outlived its run would keep every rerun out.
    """
    if not _HELD_LOCKS:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in _HELD_LOCKS:
        os.dup2(null, descriptor, inheritable=False)
    os.close(null)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_release_in_child)


def _recorded_pid(handle: Any) -> int | None:
    """Return the process id written in a lock file, or None."""
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None


def _is_file_at(handle: Any, lock: Path) -> bool:
    """Whether ``handle`` is the file now at ``lock`` (not one removed meanwhile)."""
    try:
        return os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _held_message(path: str | os.PathLike, lock: Path, holder: int | None) -> str:
    if holder is None or not _alive(holder):
        owner = "" if holder is None else f", started by run {holder}, which has ended"
        return (
            f"another process holds {lock}{owner}; end it (`fuser -v {lock}` names "
            f"it) or wait for it, then rerun: it would write {path} too"
        )
    return (
        f"another run is writing {path} (process {holder} holds {lock}); wait "
        "for it to finish or use another output"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (main thread, POSIX) while a write runs."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class OutputWriter:
    """Append structures to an augment output, flushing each one.

    Parameters
    ----------
    path
        The output file; created by the first structure when missing (a run
        that writes none leaves none), appended to otherwise.
    fmt
        ``"extxyz"``, ``"db"`` or ``"h5"`` (see :func:`output_format`).
    """

    def __init__(self, path: str | os.PathLike, fmt: str) -> None:
        self.path = Path(path)
        self.format = fmt
        self.count = 0
        self._handle: Any = None  # opened by the first write: no empty files
        if fmt == "extxyz":
            self._extxyz = ExtxyzText()

    def _open(self) -> Any:
        if self.format == "h5":
            from asegen.data import H5Writer

            return H5Writer(self.path, append=True)
        if self.format == "db":
            import ase.db

            return ase.db.connect(self.path, type="db", append=True)
        return self.path.open("a")

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, atoms: Atoms) -> None:
        """Append one labelled structure and make it durable before returning."""
        if self._handle is None:
            self._handle = self._open()
        if self.format == "extxyz":
            text = self._extxyz(atoms)
            with _signals_held():
                self._handle.write(text)
                self._handle.flush()
        elif self.format == "db":
            pairs, data = _db_info(atoms)
            with _signals_held():
                self._handle.write(atoms, key_value_pairs=pairs, data=data)
        else:
            with _signals_held():
                self._handle.append(atoms)
                self._handle.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file (everything written is already flushed)."""
        if self._handle is None or self.format == "db":
            return  # each write committed its own transaction
        self._handle.close()


class ExtxyzText:
    """The extended XYZ text ``ase.io.write(..., format="extxyz")`` writes.

    Labelled structures with only numbers and positions as arrays, no
    constraints and energy, forces and stress as their only results (every
    structure the augment loop makes) are formatted here, three times faster
    than by ASE; anything else goes to ASE. The first structure of each kind
    (info keys and types, results, periodicity) is formatted both ways and,
    should the texts ever differ (another ASE version), every structure goes
    to ASE from then on.
    """

    def __init__(self) -> None:
        self._checked: set[tuple] = set()
        self._fast = True
        self._rows: tuple[bytes, np.ndarray, str] | None = None

    def __call__(self, atoms: Atoms) -> str:
        """Return the text of one structure, both header lines included."""
        fast = self._fast_text(atoms) if self._fast else None
        if fast is None:
            return _ase_extxyz(atoms)
        info, results = atoms.info, atoms.calc.results
        kind = (
            tuple(info),
            tuple(map(type, info.values())),
            tuple((key, np.shape(value)) for key, value in results.items()),
            atoms.pbc.tobytes(),
            bool(atoms.cell.any()),
        )
        if kind not in self._checked:
            reference = _ase_extxyz(atoms)
            if reference != fast:
                self._fast = False
                return reference
            self._checked.add(kind)
        return fast

    def _fast_text(self, atoms: Atoms) -> str | None:
        """``ase.io.extxyz.write_xyz``'s text for a plain labelled structure, or None.

        Follows ``write_xyz`` (ASE 3.23-3.29) for its default arguments: the
        results are moved into ``info`` and ``arrays``, a 6-vector stress
        becomes 3 × 3 (written in Fortran order), the comment line is the
        lattice, the ``Properties`` of the columns species, pos and forces and
        ``key_val_dict_to_str`` of ``info`` plus ``pbc``, and each row is
        ``%-2s`` and six ``%16.8f``.
        """
        calc = atoms.calc
        if calc is None or atoms.constraints or atoms.arrays.keys() != _PLAIN_ARRAYS:
            return None
        results = calc.results
        if not results.keys() <= _RESULTS or "forces" not in results:
            return None
        if "energy" in atoms.info or "stress" in atoms.info:
            return None  # ASE raises for these
        n_atoms = len(atoms)
        forces, positions = results["forces"], atoms.arrays["positions"]
        if not (
            isinstance(forces, np.ndarray)
            and forces.shape == (n_atoms, 3)
            and forces.dtype.kind == "f"
            and positions.dtype.kind == "f"
        ):
            return None
        info = dict(atoms.info)
        for key in results:
            if key != "forces":
                info[key] = results[key]
        stress = info.get("stress")
        if stress is not None:
            if not isinstance(stress, np.ndarray):
                return None
            if stress.shape == (6,):  # 3 × 3 as ASE makes it, in Fortran order
                info["stress"] = stress[_VOIGT_TO_FORTRAN]
        info["pbc"] = atoms.get_pbc()
        comment = "Properties=species:S:1:pos:R:3:forces:R:3 " + _info_text(info)
        cell = atoms.cell.array
        if cell.any():
            lattice = " ".join([str(x) for x in cell.ravel()])  # the rows in turn
            comment = f'Lattice="{lattice}" {comment}'
        table, rows = self._table(atoms.numbers)
        table[:, 1:4] = positions  # Python floats in an object array
        table[:, 4:] = forces
        return f"{n_atoms}\n{comment}\n" + rows % tuple(table.ravel().tolist())

    def _table(self, numbers: np.ndarray) -> tuple[np.ndarray, str]:
        """Return an (N, 7) object array, symbols filled in, and its row format."""
        key = numbers.tobytes()
        if self._rows is None or self._rows[0] != key:
            from ase.data import chemical_symbols

            table = np.empty((len(numbers), 7), dtype=object)
            table[:, 0] = [chemical_symbols[z] for z in numbers]
            rows = ("%-2s" + " %16.8f" * 6 + "\n") * len(numbers)
            self._rows = (key, table, rows)
        return self._rows[1], self._rows[2]


def _ase_extxyz(atoms: Atoms) -> str:
    import ase.io

    text = io.StringIO()
    ase.io.write(text, atoms, format="extxyz")
    return text.getvalue()


_RESULTS = {"energy", "forces", "stress"}
_PLAIN_ARRAYS = {"numbers", "positions"}
_VOIGT_TO_FORTRAN = [0, 5, 4, 5, 1, 3, 4, 3, 2]  # xx xy xz xy yy yz xz yz zz


_SCALARS = (int, float, np.integer, np.floating)


def _info_text(info: dict[str, Any]) -> str:
    """``ase.io.extxyz.key_val_dict_to_str(info)``, faster for plain values.

    Plain: strings, numbers and 1-D numeric or boolean arrays (any array
    under the 3 × 3 keys); ``info`` with anything else goes to ASE.
    """
    from ase.io.extxyz import SPECIAL_3_3_KEYS, escape, key_val_dict_to_str

    parts = []
    for key, value in info.items():
        if type(key) is not str:
            return key_val_dict_to_str(info)
        if type(value) is str:
            text = value
        elif isinstance(value, _SCALARS) and not isinstance(value, bool):
            text = f"{value}"
        elif isinstance(value, np.ndarray):
            if key in SPECIAL_3_3_KEYS:
                value = value.reshape(value.size, order="F")
            if value.ndim != 1 or value.dtype.kind not in "ifb":
                return key_val_dict_to_str(info)
            if value.dtype.kind == "b":
                text = " ".join(["T" if v else "F" for v in value])
            else:
                text = " ".join([f"{v}" for v in value])
        else:
            return key_val_dict_to_str(info)
        parts.append(f"{escape(key)}={escape(text)} ")
    return "".join(parts).strip()


def _db_info(atoms: Atoms) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``info`` into key-value pairs ASE databases accept and the rest."""
    from ase.db.core import check

    pairs: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in atoms.info.items():
        name = _DB_KEYS.get(key, key)
        try:
            check({name: value})
        except ValueError:
            data[name] = value
        else:
            pairs[name] = value
    return pairs, data
