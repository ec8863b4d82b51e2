"""The generated CLI and config references (docs/_ext) cover the whole package."""

import dataclasses
import importlib
import pkgutil
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from docutils import nodes

import asegen
from asegen.cli import main

DOCS = Path(__file__).parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

from asegen_cli import command_nodes  # noqa: E402
from asegen_config import config_rows, field_descriptions  # noqa: E402


def config_classes():
    """Every dataclass defined in a ``config`` module of the package."""
    found = []
    for info in pkgutil.walk_packages(asegen.__path__, "asegen."):
        if info.name.rsplit(".", 1)[-1] != "config":
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def nested(cls):
    """The dataclasses of ``cls``'s fields (the tables expand them as ``a.b``)."""
    hints = typing.get_type_hints(cls)
    kinds = [hints[f.name] for f in dataclasses.fields(cls)]
    return [kind for kind in kinds if dataclasses.is_dataclass(kind)]


def test_every_config_class_is_on_the_reference_page():
    page = (DOCS / "reference" / "config.md").read_text()
    classes = config_classes()
    assert len(classes) >= 10  # the walk found the config modules
    shown = {cls for cls in classes if f"asegen-config:: {name(cls)}" in page}
    for cls in list(shown):
        shown.update(nested(cls))  # e.g. PotentialConfig's LossWeights
    # a class made only of sections shown (AugmentConfig) is shown too
    sections = {
        cls
        for cls in classes
        if len(nested(cls)) == len(dataclasses.fields(cls))
        and set(nested(cls)) <= shown
    }
    assert not [name(cls) for cls in classes if cls not in shown | sections]


def name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("cls", config_classes(), ids=lambda cls: cls.__qualname__)
def test_every_config_key_has_a_type_default_and_description(cls):
    rows = config_rows(cls)
    assert rows
    for key, kind, default, description in rows:
        assert kind, key
        assert default, key
        assert len(description) > 10, key


def test_nested_keys_grouped_entries_and_required_keys():
    from asegen.augment.config import REQUIRED, AugmentSettings
    from asegen.train.potential.config import PotentialConfig

    rows = {row[0]: row for row in config_rows(PotentialConfig, "train.")}
    assert rows["train.weights.forces"][1:3] == ("a number", "1.0")
    assert rows["train.loss"][2] == '"l1"'
    settings = {row[0]: row for row in config_rows(AugmentSettings, "", REQUIRED)}
    assert settings["T"][2] == "required"
    assert settings["max_force"][2] == "30.0"
    described = field_descriptions(asegen.train.TrainConfig)
    assert described["n_val"] == described["n_test"]
    assert described["n_val"].startswith("Split by counts")


def test_a_key_without_description_is_refused():
    @dataclass
    class Settings:
        """Settings.

        Attributes
        ----------
        size
            How many.
        """

        size: int = 1
        names: list[str] = field(default_factory=list)

    with pytest.raises(ValueError, match=r"Settings\.names has no description"):
        config_rows(Settings)


def command_paths(command, prefix="asegen"):
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, f"{prefix} {name}")
    return paths


def test_cli_reference_has_every_command_with_defaults():
    (section,) = command_nodes("asegen", main)
    titles = [node.astext() for node in section.findall(nodes.title)]
    assert sorted(titles) == sorted(command_paths(main))
    assert {"asegen train alignn", "asegen sample", "asegen place"} <= set(titles)
    text = section.astext()
    # --out of train sets no show_default; the reference shows it anyway
    train = next(
        s
        for s in section.findall(nodes.section)
        if s[0].astext() == "asegen train alignn"
    )
    assert "[default: logs]" in train.astext()
    assert "Usage: asegen sample [OPTIONS] [MODEL]" in text
    assert "-h, --help" in text


def test_cli_reference_matches_help_text():
    (section,) = command_nodes("asegen", main)
    sample = next(
        s for s in section.findall(nodes.section) if s[0].astext() == "asegen sample"
    )
    with click.Context(main, info_name="asegen") as ctx:
        command = main.get_command(ctx, "sample")
        help_text = command.get_help(
            click.Context(command, info_name="sample", parent=ctx)
        )
    first = help_text.split("Options:")[0].strip().splitlines()[2]
    assert first in sample.astext()
