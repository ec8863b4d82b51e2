"""Fixtures of the augment tests: small inputs in a working folder."""

import ase.io
import pytest
from augment_helpers import cu_cell, cu_cluster


@pytest.fixture
def inputs():
    return [cu_cell(0), cu_cell(1), cu_cluster(2)]


@pytest.fixture
def workdir(tmp_path, monkeypatch, inputs):
    """A folder with inputs.xyz, made the working directory (as the anchor needs)."""
    ase.io.write(tmp_path / "inputs.xyz", inputs)
    monkeypatch.chdir(tmp_path)
    return tmp_path
