"""torch-geometric stays optional: not imported by asegen, one line when missing."""

import subprocess
import sys

INSTALL = 'this needs torch-geometric: pip install "asegen[pyg]"'
NOT_IMPORTED = """
import sys
import asegen, asegen.graph
from asegen.graph import atoms_to_graph
print('torch_geometric' in sys.modules)
"""

MISSING = """
import sys
sys.modules['torch_geometric'] = None  # importing it now fails: no extra installed
from ase.build import bulk
from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph, to_pyg
from asegen.graph.pyg import PygDataset
graph = atoms_to_graph(bulk('Cu'), cutoff=3.0)
for use in (lambda: to_pyg(graph), lambda: PygDataset('x.h5', cutoff=3.0)):
    try:
        use()
    except ConfigError as error:
        print(error)
"""


def run(code):
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_importing_asegen_graph_does_not_import_torch_geometric():
    assert run(NOT_IMPORTED) == ["False"]


def test_without_the_extra_using_it_is_one_line_naming_the_install():
    messages = run(MISSING)  # to_pyg, then PygDataset
    assert len(messages) == 2
    for message in messages:
        assert message.startswith(INSTALL)
