"""The units of every quantity asegen reads and writes, written down once.

ASE's: eV, Å, eV/Å, and stress in eV/Å³ (:mod:`asegen.graph.units` holds the
sign and Voigt conventions). Checkpoints, run directories, HDF5 files and
exported models all record this table.
"""

from __future__ import annotations

__all__ = ["UNITS"]

UNITS = {"length": "Å", "energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3"}
