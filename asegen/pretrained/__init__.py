"""Pretrained models that ship inside the package, usable by name.

Each model is a folder ``asegen/pretrained/<name>/`` holding ``model.pt`` (an
asegen checkpoint, weights only) and ``card.json``: what it is, the data and
budget it was trained with, its held-out metrics and the command that made
it. Wherever asegen takes a run directory or checkpoint, the name works too:
``asegen.load("qm9")``, ``asegen place qm9``, ``asegen info qm9`` (the card).
Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asegen.errors import InputNotFoundError

__all__ = ["DEFAULTS", "available", "card", "checkpoint", "describe"]

_HERE = Path(__file__).resolve().parent
_MODEL = "model.pt"
_CARD = "card.json"

#: The bundled model each generator uses when no MODEL is given, by task:
#: ``asegen sample`` takes ``"surface"`` with a template, else ``"diffusion"``.
DEFAULTS = {"placer": "qm9", "diffusion": "pdo-bulk", "surface": "pdo-surface"}


def available() -> dict[str, str]:
    """Return the bundled models by name, each with its one-line summary."""
    out = {}
    for folder in sorted(_HERE.iterdir()):
        if (folder / _MODEL).is_file() and (folder / _CARD).is_file():
            out[folder.name] = str(card(folder.name).get("summary", ""))
    return out


def checkpoint(name: str) -> Path:
    """Return the checkpoint file of the bundled model ``name``.

    Raises
    ------
    asegen.errors.InputNotFoundError
        If no bundled model has that name.
    """
    path = _HERE / name / _MODEL
    if not name or "/" in name or not path.is_file():
        names = ", ".join(available()) or "none"
        raise InputNotFoundError(
            f"no bundled model named {name!r} (bundled: {names}); pass a run "
            "directory or checkpoint file"
        )
    return path


def card(name: str) -> dict[str, Any]:
    """Return the model card of ``name`` (data, budget, metrics, command)."""
    checkpoint(name)
    return json.loads((_HERE / name / _CARD).read_text())


def describe(name: str) -> str:
    """Return the card of ``name`` as lines for people to read.

    The checkpoint file is not among them: :func:`checkpoint` returns it, and
    ``asegen info NAME`` prints it with the model's own summary.
    """
    info = card(name)
    lines = [f"bundled model: {name} ({info.get('kind', '?')})"]
    for key in ("summary", "data", "budget", "command", "note"):
        if key in info:
            lines.append(f"{key + ':':12} {info[key]}")
    for key, value in (info.get("metrics") or {}).items():
        lines.append(f"{'metric:':12} {key} {value}")
    return "\n".join(lines)
