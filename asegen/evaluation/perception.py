"""Bond perception of one molecule with RDKit: the per-structure checks.

The pipeline of :func:`perceive` (RDKit's ``rdDetermineBonds``, the port of
xyz2mol): XYZ block -> ``MolFromXYZBlock`` -> connectivity on a copy
(``DetermineConnectivity``) -> bond orders (``DetermineBonds``) ->
``SanitizeMol`` -> radical and formal-charge checks -> ``RemoveHs`` ->
canonical SMILES, where a ``.`` means disconnected. RDKit is imported only
here, when a molecule is perceived, so ``import asegen`` never loads it.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, NamedTuple

from ase import Atoms

from asegen.errors import ConfigError

__all__ = ["STATUSES", "MoleculeOptions", "Perception", "perceive", "rdkit_version"]

STATUSES = (
    "valid",
    "empty",
    "parse_failed",
    "bond_order_failed",
    "sanitize_failed",
    "radical",
    "charged",
    "disconnected",
    "timeout",
)
"""Every status :func:`perceive` gives, in the order of the pipeline."""

_DEFAULT_COV_FACTOR = 1.3  # RDKit's default


@dataclass(frozen=True)
class MoleculeOptions:
    """Options of the RDKit pipeline, recorded with every result.

    Attributes
    ----------
    charge
        Total charge of each molecule, passed to RDKit. RDKit places a
        non-zero charge as formal charges, so it needs
        ``allow_charged_fragments`` (refused without it).
    allow_charged_fragments
        Let RDKit place formal charges (``[C-]#[O+]``, nitro groups) and
        accept molecules that carry them.
    allow_radicals
        Accept molecules with radical electrons (carbenes, odd electron counts).
    isomeric
        Embed chirality from 3-D and write isomeric SMILES (stereo centres and
        double-bond geometry); otherwise SMILES are non-isomeric.
    huckel
        Connectivity from extended Hückel theory instead of connect-the-dots.
    vdw
        Connectivity from van der Waals radii instead of connect-the-dots.
    cov_factor
        Factor on covalent radii; RDKit uses it only with ``vdw``.
    timeout
        Seconds per molecule, ``None`` or 0 for none (see :func:`perceive`).
    """

    charge: int = 0
    allow_charged_fragments: bool = False
    allow_radicals: bool = False
    isomeric: bool = False
    huckel: bool = False
    vdw: bool = False
    cov_factor: float = _DEFAULT_COV_FACTOR
    timeout: float | None = 5.0

    def __post_init__(self) -> None:
        """Refuse option values RDKit would ignore or reject."""
        if self.cov_factor != _DEFAULT_COV_FACTOR and not self.vdw:
            raise ConfigError(
                f"cov_factor={self.cov_factor:g} has no effect without vdw (RDKit "
                "uses it only for van der Waals connectivity); add vdw=True / "
                "--vdw or leave it at 1.3"
            )
        if not (math.isfinite(self.cov_factor) and self.cov_factor > 0):
            raise ConfigError(
                f"cov_factor must be a finite positive number, got {self.cov_factor:g}"
            )
        if self.timeout is not None and not (
            math.isfinite(self.timeout) and self.timeout >= 0
        ):
            raise ConfigError(
                f"timeout must be a finite number >= 0 seconds, got {self.timeout:g}"
            )
        if self.charge and not self.allow_charged_fragments:
            raise ConfigError(
                f"charge={self.charge} needs allow_charged_fragments (RDKit places "
                "the charge as formal charges; without them every molecule fails); "
                "add allow_charged_fragments=True / --allow-charged-fragments"
            )
        if self.huckel and self.vdw:
            raise ConfigError("huckel and vdw are two connectivity methods; pick one")

    def as_dict(self) -> dict[str, Any]:
        """Return the options as a plain dict."""
        return asdict(self)


class Perception(NamedTuple):
    """What :func:`perceive` found for one structure.

    ``smiles`` is the canonical SMILES once sanitisation succeeded (also for
    ``radical``, ``charged`` and ``disconnected``), else ``None``;
    ``connected`` tells whether connect-the-dots joined all atoms into one
    fragment.
    """

    status: str
    smiles: str | None
    connected: bool


def _rdkit() -> ModuleType:
    """Return ``rdkit.Chem``, or raise a one-line error naming the extra."""
    try:
        from rdkit import Chem
    except ImportError:
        raise ConfigError(
            "the molecule evaluator needs RDKit, which is not installed; "
            'install it with: pip install "asegen[molecules]"'
        ) from None
    return Chem


def rdkit_version() -> str:
    """Return the installed RDKit version (raises the install hint without it)."""
    _rdkit()
    from rdkit import rdBase

    return str(rdBase.rdkitVersion)


def _xyz_block(atoms: Atoms) -> str:
    """Return ``atoms`` as an XYZ block with 6 decimals, RDKit's input."""
    lines = [str(len(atoms)), ""]
    symbols = atoms.get_chemical_symbols()
    for symbol, (x, y, z) in zip(symbols, atoms.positions, strict=True):
        lines.append(f"{symbol} {x:.6f} {y:.6f} {z:.6f}")
    return "\n".join(lines) + "\n"


class _Timeout(Exception):
    """The per-molecule time limit passed."""


def _alarm_available() -> bool:
    return hasattr(signal, "setitimer") and (
        threading.current_thread() is threading.main_thread()
    )


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_Timeout` in the block after ``seconds`` (SIGALRM only)."""
    if not seconds or not _alarm_available():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def perceive(atoms: Atoms, options: MoleculeOptions) -> Perception:
    """Perceive the bonds of one molecule and classify it.

    The time limit uses SIGALRM, so it applies only in the main thread on
    POSIX systems (elsewhere molecules run without one). Python acts on the
    alarm when RDKit returns control: a molecule over time is marked
    ``timeout``, but one very slow RDKit call runs to its end first.

    Parameters
    ----------
    atoms
        A non-periodic structure.
    options
        The pipeline's options.

    Returns
    -------
    Perception
        The status (one of :data:`STATUSES`), SMILES and connectivity.
    """
    if len(atoms) == 0:
        return Perception("empty", None, False)
    chem = _rdkit()
    from rdkit import rdBase

    with rdBase.BlockLogs():  # RDKit's own messages would repeat each status
        try:
            with _time_limit(options.timeout):
                return _pipeline(chem, _xyz_block(atoms), options)
        except _Timeout:
            return Perception("timeout", None, False)


def _pipeline(chem: ModuleType, block: str, options: MoleculeOptions) -> Perception:
    from rdkit.Chem import rdDetermineBonds

    mol = chem.MolFromXYZBlock(block)
    if mol is None:
        return Perception("parse_failed", None, False)
    method = {
        "useHueckel": options.huckel,
        "charge": options.charge,
        "covFactor": options.cov_factor,
        "useVdw": options.vdw,
    }
    skeleton = chem.Mol(mol)
    try:
        rdDetermineBonds.DetermineConnectivity(skeleton, **method)
        connected = len(chem.GetMolFrags(skeleton)) == 1
    except (ValueError, RuntimeError):
        connected = False
    try:
        rdDetermineBonds.DetermineBonds(
            mol,
            allowChargedFragments=options.allow_charged_fragments,
            embedChiral=False,  # stereo comes after SanitizeMol, below
            **method,
        )
    except (ValueError, RuntimeError):
        return Perception("bond_order_failed", None, connected)
    try:
        chem.SanitizeMol(mol)
        if options.isomeric:  # what embedChiral=True would do, after the check
            chem.AssignStereochemistryFrom3D(mol)
        heavy = chem.MolToSmiles(chem.RemoveHs(mol), isomericSmiles=options.isomeric)
    except (ValueError, RuntimeError):
        return Perception("sanitize_failed", None, connected)
    smiles = _canonical(chem, heavy, isomeric=options.isomeric)
    if smiles is None:  # RDKit cannot read back what it wrote
        return Perception("sanitize_failed", None, connected)
    atoms = list(mol.GetAtoms())
    if not options.allow_radicals and any(a.GetNumRadicalElectrons() for a in atoms):
        return Perception("radical", smiles, connected)
    charged = any(a.GetFormalCharge() for a in atoms)
    if not options.allow_charged_fragments and charged:
        return Perception("charged", smiles, connected)
    if "." in smiles:
        return Perception("disconnected", smiles, connected)
    return Perception("valid", smiles, connected)


def canonical_smiles(smiles: str, *, isomeric: bool) -> str | None:
    """Return RDKit's canonical form of ``smiles``, ``None`` if unreadable."""
    chem = _rdkit()
    from rdkit import rdBase

    with rdBase.BlockLogs():
        return _canonical(chem, smiles, isomeric=isomeric)


def _canonical(chem: ModuleType, smiles: str, *, isomeric: bool) -> str | None:
    mol = chem.MolFromSmiles(smiles)
    return None if mol is None else chem.MolToSmiles(mol, isomericSmiles=isomeric)
