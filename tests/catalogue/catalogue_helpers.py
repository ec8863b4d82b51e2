"""The one check of the bad-input catalogue: a refusal, and what it must leave.

A user mistake is answered by exit code 2 and exactly one line, ``Error: ...``,
that names the offending thing (a file, key, value or structure index); no
traceback, and every file and folder under the watched roots exactly as it
was: nothing changed, nothing left behind (no empty output, no empty
``version_N``).
"""

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from asegen.cli import main
from asegen.errors import AsegenError


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash (folders as ``dir``)."""
    tree = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            tree[key] = "dir"
        elif path.is_file() and not path.name.endswith(".asegen-lock"):
            try:
                tree[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:  # an unreadable input of the permission cases
                tree[key] = f"mode {path.stat().st_mode:o}"
    return tree


def invoke(*args: object):
    """Run ``asegen ARGS`` in this process (click's runner); return the result."""
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line(text: str, names: Iterable[str]) -> str:
    """``text`` is one ``Error:`` line naming every one of ``names``; return it."""
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    line = lines[0]
    assert line.startswith("Error: "), line
    assert line.removeprefix("Error: ").strip(), line
    for name in names:
        assert str(name) in line, f"{name!r} not named in: {line}"
    return line


def refused(args: Iterable[object], *names: str, watch: Iterable[Path] = ()) -> str:
    """``asegen ARGS`` fails with one line naming ``names`` and changes nothing.

    The working folder and every folder in ``watch`` must be byte-identical
    before and after. Returns the error line.
    """
    roots = [Path.cwd(), *watch]
    before = [snapshot(root) for root in roots]
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.output}{result.exception!r}"
    )
    assert result.exit_code == 2, result.output
    line = assert_one_line(result.output, names)
    assert result.stderr.strip() == line
    assert [snapshot(root) for root in roots] == before
    return line


def api_refused(
    call: Callable[[], object], *names: str, watch: Iterable[Path] = ()
) -> AsegenError:
    """``call()`` raises a one-line :class:`AsegenError` naming ``names``; no change."""
    roots = [Path.cwd(), *watch]
    before = [snapshot(root) for root in roots]
    with pytest.raises(AsegenError) as raised:
        call()
    assert_one_line(f"Error: {raised.value}", names)
    assert [snapshot(root) for root in roots] == before
    return raised.value


def accepted(*args: object) -> str:
    """``asegen ARGS`` succeeds (exit code 0) without a traceback; return its output."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output
