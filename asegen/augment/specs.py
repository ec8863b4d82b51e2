"""Calculator specs of augment-atoms configs: ``+`` imports, ``=`` references.

The rules of the anchor (its ``data2objects`` dependency), applied to the
whole config:

- ``"=/a/b"`` is replaced by a copy of the node at ``a/b`` from the root;
  ``"=../b"`` and ``"=b"`` are relative to the mapping that holds the string.
  References are resolved first and only in mapping values.
- ``"+name"`` imports ``name``; ``"+name()"`` calls it without arguments. A
  dotless name is one of :data:`BUILTINS`; a dotted name is imported as a
  module attribute, with the working directory on ``sys.path`` for the
  duration of the import and ``a/b.py`` (relative to it) as the fallback for
  module ``a.b``.
- A one-key mapping ``{"+name": value}`` calls ``name(**value)`` when ``value``
  is a mapping and ``name(value)`` otherwise.

asegen extensions: ``"+name(key=value, ...)"`` with Python literals as
arguments, and ``+asegen.alignn`` (a trained :class:`ALIGNNCalculator`).

A config is code: it runs the callables it names, and importing a module runs
the module. Python's builtins (``exec``, ``eval``, ``open``, ``__import__``,
...), also reached through a module (``+builtins.exec``, ``+io.open``), are
refused, unlike the anchor, which resolved dotless names to them first.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ase.calculators.calculator import BaseCalculator
from ase.calculators.lj import LennardJones

from asegen.errors import AsegenError, ConfigError

__all__ = [
    "BUILTINS",
    "alignn",
    "build_calculator",
    "graph_pes_calculator",
    "lennard_jones",
    "resolve",
    "resolve_references",
]

IMPORT_PREFIX = "+"
REFERENCE_PREFIX = "="


def lennard_jones(**parameters: Any) -> LennardJones:
    """ASE's :class:`~ase.calculators.lj.LennardJones` (σ 1 Å, ε 1 eV, rc 3 Å).

    The anchor's ``+lennard_jones()``; keyword arguments go to ASE.
    """
    return LennardJones(**parameters)


def graph_pes_calculator(path: str, *, skin: float = 0.0) -> BaseCalculator:
    """Load a graph-pes model as an ASE calculator, on CUDA when available.

    The anchor's ``{+graph_pes_calculator: {path: model.pt}}``. The anchor fixed
    ``skin=2``, which only costs time when every call declares all atoms
    changed (its defect D13); the skin is an option here, 0 by default.
    """
    import torch
    from graph_pes.models import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_model(path).to(device).ase_calculator(skin=skin)


def alignn(path: str | os.PathLike, **options: Any) -> BaseCalculator:
    """``ALIGNNCalculator.load(path, **options)``: ``{+asegen.alignn: {path: RUN}}``."""
    from asegen.calculators import ALIGNNCalculator

    return ALIGNNCalculator.load(path, **options)


BUILTINS: dict[str, Callable[..., Any]] = {
    "lennard_jones": lennard_jones,
    "graph_pes_calculator": graph_pes_calculator,
    "asegen.alignn": alignn,
}
"""Names resolved before any import; the only dotless names a spec may use."""


def resolve_references(data: Mapping[str, Any]) -> dict[str, Any]:
    """Replace every ``"=path"`` mapping value by a copy of the node it names."""
    return _fill(data, data, [])


def _fill(node: Mapping[str, Any], root: Mapping[str, Any], here: list[str]) -> dict:
    filled: dict[Any, Any] = {}
    for key, value in node.items():
        if isinstance(value, str) and value.startswith(REFERENCE_PREFIX):
            if value != REFERENCE_PREFIX:
                value = copy.deepcopy(_lookup(root, value, here))
        elif isinstance(value, Mapping):
            value = _fill(value, root, [*here, str(key)])
        filled[key] = value
    return filled


def _lookup(root: Mapping[str, Any], reference: str, here: list[str]) -> Any:
    text = reference[len(REFERENCE_PREFIX) :]
    parts = text.split("/") if text.startswith("/") else [*here, *text.split("/")]
    path: list[str] = []
    for part in parts:
        if part == "..":
            if not path:
                raise ConfigError(f"reference '{reference}' climbs above the root")
            path.pop()
        elif part not in ("", "."):
            path.append(part)
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(
                f"reference '{reference}' points to '{'/'.join(path)}', which does "
                "not exist; fix the path (=/section/key from the root)"
            )
        node = node[part]
    return node


def resolve(value: Any) -> Any:
    """Import and call every ``+`` spec inside ``value`` (after references)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if isinstance(key, str) and key.startswith(IMPORT_PREFIX):
                name = key[len(IMPORT_PREFIX) :]
                target = _import(name)
                argument = resolve(argument)
                if isinstance(argument, Mapping):
                    return _call(name, target, (), dict(argument))
                return _call(name, target, (argument,), {})
        return {resolve(key): resolve(item) for key, item in value.items()}
    if isinstance(value, str):
        return _resolve_string(value)
    if isinstance(value, list | tuple):
        return [resolve(item) for item in value]
    return value


def _resolve_string(text: str) -> Any:
    if not text.startswith(IMPORT_PREFIX) or text == IMPORT_PREFIX:
        return text
    body = text[len(IMPORT_PREFIX) :]
    if body.endswith("()"):
        name = body[:-2]
        return _call(name, _import(name), (), {})
    if body.endswith(")"):
        name, args, kwargs = _parse_call(text)
        return _call(name, _import(name), args, kwargs)
    return _import(body)


def _parse_call(text: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """Parse ``+name(1, key="value")`` (an asegen extension: literals only)."""
    try:
        call = ast.parse(text[len(IMPORT_PREFIX) :], mode="eval").body
        if not isinstance(call, ast.Call):
            raise ValueError("not a call")
        name = ast.unparse(call.func)
        args = tuple(ast.literal_eval(arg) for arg in call.args)
        kwargs = {item.arg: ast.literal_eval(item.value) for item in call.keywords}
        if None in kwargs:
            raise ValueError("** arguments")
    except (SyntaxError, ValueError) as err:
        raise ConfigError(
            f"cannot read the spec '{text}' ({err}); write +module.name(), "
            "+module.name(key=literal, ...) or {+module.name: {key: value}}"
        ) from None
    return name, args, kwargs


def _import(name: str) -> Any:
    if name in BUILTINS:
        return BUILTINS[name]
    if "." not in name:
        if hasattr(builtins, name):
            raise _builtin_refused(name)
        dotless = sorted(key for key in BUILTINS if "." not in key)
        raise ConfigError(
            f"'+{name}' is not one of asegen's {dotless}; give the full path, "
            "e.g. +ase.calculators.emt.EMT()"
        )
    module_name, attribute = name.rsplit(".", 1)
    with _working_directory_on_path():
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            module = _import_file(module_name, err)
        except Exception as err:  # the module itself failed while importing
            raise _failed(f"importing module '{module_name}'", err) from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"cannot import '{name}': module {module_name} has no '{attribute}'; "
            "check the spelling"
        ) from None
    # by identity: a module's re-export (io.open) is the builtin itself
    if callable(target) and any(target is item for item in vars(builtins).values()):
        raise _builtin_refused(name)
    return target


def _builtin_refused(name: str) -> ConfigError:
    return ConfigError(
        f"'+{name}' is a Python builtin, which a config may not call; name a "
        "function or class by its module path, e.g. +ase.calculators.emt.EMT()"
    )


@contextmanager
def _working_directory_on_path() -> Iterator[None]:
    """Put the working directory on ``sys.path`` for one import, if missing."""
    here = str(Path.cwd().resolve())
    if here in sys.path:
        yield
        return
    sys.path.append(here)
    try:
        yield
    finally:  # remove this very entry, wherever the import moved it
        for index in range(len(sys.path) - 1, -1, -1):
            if sys.path[index] is here:
                del sys.path[index]
                break


def _import_file(module_name: str, error: ImportError) -> Any:
    path = Path(module_name.replace(".", "/")).with_suffix(".py")
    if not path.is_file():
        raise ConfigError(
            f"cannot import module '{module_name}' ({error}); install it, or run "
            f"from the folder that holds {path}"
        ) from None
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as err:
        del sys.modules[module_name]
        raise _failed(f"importing {path}", err) from None
    return module


def _failed(action: str, err: Exception) -> ConfigError:
    first = str(err).splitlines()[0] if str(err) else ""
    return ConfigError(f"{action} failed with {type(err).__name__}: {first}")


def _call(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not callable(target):
        raise ConfigError(f"'+{name}' is a {type(target).__name__}, not callable")
    try:
        return target(*args, **kwargs)
    except AsegenError:
        raise
    except ImportError as err:
        raise ConfigError(f"'+{name}' needs a missing package ({err})") from None
    except Exception as err:  # user code: report it in one line
        raise _failed(f"calling '+{name}'", err) from None


def build_calculator(spec: Any) -> BaseCalculator:
    """Resolve ``model.calculator`` and check that it is an ASE calculator.

    Parameters
    ----------
    spec
        A spec string, a one-key call mapping, or a calculator object.

    Raises
    ------
    ConfigError
        If the spec cannot be imported or called, or gives no calculator.
    """
    calculator = resolve(spec)
    if not isinstance(calculator, BaseCalculator):
        hint = (
            "; add () to call it, e.g. +ase.calculators.emt.EMT()"
            if isinstance(spec, str) and not spec.rstrip().endswith(")")
            else ""
        )
        raise ConfigError(
            f"model.calculator gave a {type(calculator).__name__}, not an ASE "
            f"calculator{hint}"
        )
    return calculator
