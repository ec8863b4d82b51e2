"""Exceptions for mistakes a user can fix.

Every user-facing error derives from :class:`AsegenError` and from the builtin
exception a Python user would expect (``ValueError``, ``FileNotFoundError``), so
``except ValueError`` keeps working. The message is one line that names the
problem and the fix; the CLI prints it as ``Error: ...`` and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "AsegenError",
    "ConfigError",
    "DataFormatError",
    "InputNotFoundError",
    "OutputExistsError",
    "StructureError",
]


class AsegenError(Exception):
    """A mistake the user can fix; the message names the problem and the fix."""


class ConfigError(AsegenError, ValueError):
    """A configuration value or key is invalid."""


class InputNotFoundError(AsegenError, FileNotFoundError):
    """A file or folder named by the user does not exist."""


class OutputExistsError(AsegenError, FileExistsError):
    """An output would overwrite an existing file the user did not ask to replace."""


class DataFormatError(AsegenError, ValueError):
    """A data file is unreadable, corrupt, or of an unsupported format version."""


class StructureError(AsegenError, ValueError):
    """An ``ase.Atoms`` cannot be used as given (NaN positions, zero-volume cell)."""
