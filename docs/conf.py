"""Sphinx configuration for the asegen documentation."""

import sys
from pathlib import Path

from asegen import __version__

# docs/_ext: the CLI and config references, generated from the code
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "asegen"
author = "The asegen developers"
copyright = "2026, The asegen developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "asegen_cli",
    "asegen_config",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True

html_theme = "furo"
html_title = f"asegen {version}"
