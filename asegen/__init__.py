"""asegen: ASE-first machine-learned potentials, generators and augmentation.

Everything takes and returns ASE objects. The sub-packages hold the building
blocks: :mod:`asegen.graph` (periodic neighbour graphs), :mod:`asegen.data`
(HDF5 datasets) and :mod:`asegen.testing` (a physics test kit for calculators).
"""

from asegen._version import __version__

__all__ = ["__version__"]
