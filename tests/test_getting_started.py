"""docs/getting-started.md works as written, run in a fresh folder at smaller sizes.

The install blocks (before the tour) are checked, not run: each line is a
``cd`` or a ``pip install`` of extras that the package declares. Every
block of the tour runs in order: ``python`` blocks in this process, ``bash``
lines through the ``asegen`` command group (in-process, as the console script
calls it), ``yaml`` blocks written to the file their first line names.
"""

import re
import shlex
from importlib.metadata import metadata
from pathlib import Path

import pytest
from ase.io import read
from click.testing import CliRunner

from asegen import data
from asegen.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TOUR = "## A five-minute tour"

# page text -> test text, each found exactly once: fewer samples, steps, epochs
SMALLER = {
    "-n 4 -o pdo.xyz": "-n 2 --steps 10 -o pdo.xyz",
    "place -n 10": "place -n 2",
    "n_per_structure: 8": "n_per_structure: 3",
    "--epochs 5": "--epochs 1",
    "--reference examples": "--steps 5 --reference examples",
    "-n 40 --minutes 1": "-n 10 --epochs 1 --set md.steps=10",
}


def blocks(text):
    """``(language, code)`` of each fenced block, in page order."""
    return [(m[1], m[2]) for m in BLOCK.finditer(text)]


def commands(code):
    """The shell commands of a bash block, continuation lines joined."""
    joined = code.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip()]


def test_install_lines_name_only_declared_extras():
    install = PAGE.read_text().split(TOUR)[0]
    declared = set(metadata("asegen").get_all("Provides-Extra"))  # pyproject's
    named = set()
    for language, code in blocks(install):
        if language != "bash":
            continue
        for line in commands(code):
            words = shlex.split(line, comments=True)
            assert words[0] == "cd" or words[:4] == ["python", "-m", "pip", "install"]
            for word in words[4:]:
                extras = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", word)
                assert extras, word
                named.update(extras[1].split(",") if extras[1] else [])
    table = set(re.findall(r"^\| `(\w+)` \|", install, re.MULTILINE))
    assert named <= declared
    assert table == declared  # the table lists every extra, and only those


def test_the_tour_runs_as_written(tmp_path, monkeypatch, capsys):
    text = PAGE.read_text().split(TOUR)[1]
    for page, small in SMALLER.items():
        assert text.count(page) == 1, page
        text = text.replace(page, small)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    outputs = {}
    shown = blocks(text)
    for k, (language, code) in enumerate(shown):
        if language == "python":
            exec(compile(code, str(PAGE), "exec"), {"__name__": "__main__"})
            printed = capsys.readouterr().out
            after = shown[k + 1]
            assert after[0] == "text"  # the page shows what it prints
            assert numbers(printed) == pytest.approx(numbers(after[1]), abs=0.01)
        elif language == "yaml":
            name = code.splitlines()[0].removeprefix("# ")
            (tmp_path / name).write_text(code)
        elif language == "bash":
            for line in commands(code):
                words = shlex.split(line)
                assert words[0] == "asegen", line
                result = runner.invoke(main, words[1:], catch_exceptions=False)
                assert result.exit_code == 0, f"{line}\n{result.output}"
                outputs[words[1], words[2]] = result.output
    samples = read("pdo.xyz", ":")
    assert [a.get_chemical_formula() for a in samples] == ["O4Pd4"] * 2
    assert 1 <= len(read("mols.xyz", ":")) <= 2  # failed attempts are not written
    assert len(data.read("augmented.h5")) == 5 * 3
    assert "structures:  15" in outputs["info", "augmented.h5"]
    assert Path("logs/version_0/checkpoints/best.pt").is_file()
    assert re.search(r"composition Pd4O4 +1\.000", outputs["evaluate", "pdo.xyz"])
    assert Path("distil/REPORT.md").is_file()
    assert "bundled model: pdo (force field)" in outputs["info", "pdo"]


def numbers(text):
    """Every decimal number in ``text``."""
    return [float(x) for x in re.findall(r"-?\d+\.\d+", text)]
