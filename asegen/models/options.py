"""Devices and floating-point types as users name them, turned into torch's.

Users never need to import torch: ``"float32"``, ``"float64"`` (also
``"single"``, ``"double"``, numpy dtypes) and ``"auto"``, ``"cpu"``,
``"cuda"``, ``"cuda:1"`` work wherever a dtype or device is passed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from asegen.errors import ConfigError

__all__ = ["resolve_device", "resolve_dtype"]

_NAMES = {
    "float32": torch.float32,
    "float": torch.float32,
    "single": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
}


def resolve_dtype(dtype: Any) -> torch.dtype:
    """Return the torch floating-point type named by ``dtype``.

    Raises
    ------
    asegen.errors.ConfigError
        For anything but float32 or float64 in any of their spellings.
    """
    if isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.float64):
        return dtype
    name = dtype.removeprefix("torch.") if isinstance(dtype, str) else None
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    if name in _NAMES:
        return _NAMES[name]
    raise ConfigError(f"dtype {dtype!r} is not one of 'float32' or 'float64'")


def resolve_device(device: Any) -> torch.device:
    """Return the torch device named by ``device`` (``"auto"``: CUDA when present).

    Raises
    ------
    asegen.errors.ConfigError
        For a name torch does not know, or CUDA where there is none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"device {device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asks for CUDA, which this machine lacks")
    return resolved
