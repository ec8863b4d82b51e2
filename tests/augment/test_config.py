"""The anchor's config schema and calculator specs, with asegen's extensions."""

import builtins
import math
import subprocess
import sys

import pytest
import yaml
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from augment_helpers import SETTINGS

from asegen.augment import AugmentSettings, load_config
from asegen.augment.specs import resolve, resolve_references
from asegen.errors import ConfigError, InputNotFoundError


def config(calculator="+ase.calculators.emt.EMT()", **settings):
    return {
        "data": {"input": "inputs.xyz", "output": "out.xyz"},
        "config": {**SETTINGS, **settings},
        "model": {"calculator": calculator},
    }


def test_anchor_defaults_and_units():
    loaded = load_config(config())
    assert isinstance(loaded.calculator, EMT)
    settings = loaded.config
    assert settings.cell_sigma is None
    assert (settings.max_force, settings.min_separation) == (30, 0.5)
    assert (settings.max_relax_steps, settings.similarity_threshold) == (20, 0.1)
    assert settings.kT == pytest.approx(8.617333262145e-5 * 300)
    kcal = load_config(config(units="kcal/mol")).config
    assert kcal.kT == pytest.approx(0.0019872041 * 300)


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config()))
    loaded = load_config(path, overrides=["config.seed=7", "config.cell_sigma=0.02"])
    assert (loaded.config.seed, loaded.config.cell_sigma) == (7, 0.02)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown config key 'extra'"),
        (
            {"config": {**SETTINGS, "temperature": 3}},
            "unknown config key 'config.temperature'",
        ),
        (
            {"config": {**SETTINGS, "n_per_structur": 3}},
            "did you mean 'config.n_per_structure'",
        ),
        ({"model": {"calc": "x"}}, "did you mean 'model.calculator'"),
        (
            {"config": {k: v for k, v in SETTINGS.items() if k != "seed"}},
            "'config.seed'",
        ),
        ({"data": {"input": "a.xyz"}}, "missing config key 'data.output'"),
        ({"config": {**SETTINGS, "T": 0}}, "T must be above 0 K"),
        ({"config": {**SETTINGS, "beta": 1.5}}, "beta must lie in [0, 1]"),
        ({"config": {**SETTINGS, "sigma_range": [0.1, 0.01]}}, "0 < low ≤ high"),
        ({"config": {**SETTINGS, "sigma_range": [0.0, 0.1]}}, "0 < low ≤ high"),
        ({"config": {**SETTINGS, "sigma_range": [0.1]}}, "two numbers"),
        (
            {"config": {**SETTINGS, "units": "Ha"}},
            "units must be one of 'eV', 'kcal/mol'",
        ),
        ({"config": {**SETTINGS, "n_per_structure": 2.0}}, "must be an integer"),
        ({"config": {**SETTINGS, "seed": True}}, "must be an integer"),
        ({"config": {**SETTINGS, "cell_sigma": -0.1}}, "cell_sigma must be ≥ 0"),
        ({"config": {**SETTINGS, "wave_width": 0}}, "wave_width must be ≥ 1"),
        ({"config": {**SETTINGS, "wave_width": 4.0}}, "wave_width must be an integer"),
        ({"model": {"calculator": "+ase.calculators.emt.EMT"}}, "add () to call it"),
        ({"model": {"calculator": "+no_such_module.make()"}}, "cannot import module"),
        ({"model": {"calculator": "+ase.calculators.emt.Nope()"}}, "has no 'Nope'"),
        ({"model": {"calculator": "+nothing()"}}, "is not one of asegen's"),
        (
            {"model": {"calculator": "+collections.OrderedDict()"}},
            "gave a OrderedDict, not an ASE calculator",
        ),
        ({"model": {"calculator": {"+math.sqrt": "x"}}}, "calling '+math.sqrt' failed"),
        ({"model": {"calculator": "+ase.calculators.emt.EMT(1 +)"}}, "cannot read"),
        ({"data": {"input": "=/data/missing", "output": "o.xyz"}}, "does not exist"),
    ],
)
def test_bad_configs_raise_one_line(change, message):
    with pytest.raises(ConfigError) as error:
        load_config({**config(), **change})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputNotFoundError):
        load_config(tmp_path / "nope.yaml")


def test_a_calculator_object_is_used_as_given_and_the_dict_left_alone():
    calc = EMT()
    given = config(calc)
    loaded = load_config(given, overrides=["config.seed=9"])
    assert loaded.calculator is calc
    assert loaded.config.seed == 9
    assert given["config"]["seed"] == SETTINGS["seed"]


def test_mapping_spec_builtins_and_asegen_call_syntax():
    mapping = {"+ase.calculators.lj.LennardJones": {"sigma": 2.3, "rc": 5.0}}
    calc = load_config(config(mapping)).calculator
    assert (calc.parameters.sigma, calc.parameters.rc) == (2.3, 5.0)
    default = load_config(config("+lennard_jones()")).calculator
    assert isinstance(default, LennardJones)
    assert (default.parameters.sigma, default.parameters.rc) == (1.0, 3.0)
    called = load_config(config("+ase.calculators.lj.LennardJones(sigma=2.0)"))
    assert called.calculator.parameters.sigma == 2.0
    assert resolve({"+math.fsum": [1, 2, 3]}) == 6  # a non-mapping value: one argument
    two_keys = {"a": "+math.sqrt", "b": 2}  # two keys: no call
    assert resolve(two_keys) == {"a": math.sqrt, "b": 2}


def test_references_resolve_like_the_anchor():
    data = {"a": {"x": 1, "y": "=x", "z": "=../b/w"}, "b": {"w": [2]}, "c": "=/a/x"}
    assert resolve_references(data) == {
        "a": {"x": 1, "y": 1, "z": [2]},
        "b": {"w": [2]},
        "c": 1,
    }
    loaded = load_config({**config(), "data": {"input": "in.xyz", "output": "=input"}})
    assert loaded.data.output == "in.xyz"


def test_local_module_next_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my_calc.py").write_text(
        "from ase.calculators.emt import EMT\n\ndef make(**kw):\n    return EMT()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "my_calc", raising=False)
    before = list(sys.path)
    assert isinstance(load_config(config("+my_calc.make()")).calculator, EMT)
    assert sys.path == before  # the working directory was there for the import only


def test_a_working_directory_already_on_sys_path_stays(tmp_path, monkeypatch):
    (tmp_path / "my_other_calc.py").write_text(
        "from ase.calculators.emt import EMT\n\ndef make():\n    return EMT()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "my_other_calc", raising=False)
    before = list(sys.path)
    assert isinstance(load_config(config("+my_other_calc.make()")).calculator, EMT)
    assert sys.path == before


PAYLOAD = "open('pwned', 'w').close()"


@pytest.mark.parametrize(
    "spec",
    [
        f"+exec({PAYLOAD!r})",
        f"+eval({PAYLOAD!r})",
        {"+exec": PAYLOAD},
        {"+eval": PAYLOAD},
        f"+builtins.exec({PAYLOAD!r})",
        {"+builtins.exec": PAYLOAD},
        "+__import__('os')",
        {"+compile": {"source": PAYLOAD, "filename": "x", "mode": "exec"}},
        {"+io.open": {"file": "pwned", "mode": "w"}},  # io.open is builtins.open
    ],
)
def test_python_builtins_are_refused_and_nothing_runs(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config(config(spec))
    assert "is a Python builtin, which a config may not call" in str(error.value)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "pwned").exists()


def test_every_python_builtin_is_refused_by_name_and_through_its_module():
    for name, value in vars(builtins).items():
        with pytest.raises(ConfigError, match="is a Python builtin"):
            resolve(f"+{name}")
        if callable(value):
            with pytest.raises(ConfigError, match="is a Python builtin"):
                resolve(f"+builtins.{name}")


def test_local_module_that_fails_to_import(tmp_path, monkeypatch):
    (tmp_path / "broken_calc.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ConfigError, match="failed with RuntimeError: boom"):
        load_config(config("+broken_calc.make()"))


def test_asegen_alignn_spec_loads_a_checkpoint(tmp_path):
    from calculator_factories import alignn_model

    from asegen.calculators import ALIGNNCalculator
    from asegen.models import save_checkpoint

    save_checkpoint(tmp_path / "model.pt", alignn_model())
    spec = {"+asegen.alignn": {"path": str(tmp_path / "model.pt"), "device": "cpu"}}
    assert isinstance(load_config(config(spec)).calculator, ALIGNNCalculator)
    with pytest.raises(InputNotFoundError):
        load_config(config({"+asegen.alignn": {"path": str(tmp_path / "none")}}))


def test_graph_pes_builtin_without_graph_pes_is_one_line():
    pytest.importorskip("torch")
    if "graph_pes" in sys.modules or _installed("graph_pes"):
        pytest.skip("graph-pes is installed")
    with pytest.raises(ConfigError, match="needs a missing package"):
        load_config(config({"+graph_pes_calculator": {"path": "model.pt"}}))


def _installed(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_python_settings_defaults_and_strictness():
    assert AugmentSettings().n_per_structure == 10
    with pytest.raises(ConfigError, match="T must be above 0 K"):
        AugmentSettings(T=-1)


def test_importing_augment_does_not_import_torch():
    code = (
        "import sys, asegen.augment, asegen.cli\n"
        "from asegen.augment import load_config\n"
        "load_config({'data': {'input': 'a', 'output': 'b.xyz'}, 'config': "
        f"{SETTINGS!r}, 'model': {{'calculator': '+ase.calculators.emt.EMT()'}}}})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


FLOATS = ["T", "beta", "cell_sigma", "max_force", "min_separation"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", [*FLOATS, "similarity_threshold", "sigma_range"])
def test_nan_and_infinity_are_refused_everywhere(key, value):
    """``similarity_threshold: .nan`` used to turn the duplicate filter off."""
    given = [0.01, value] if key == "sigma_range" else value
    with pytest.raises(ConfigError) as error:
        load_config(config(**{key: given}))
    assert f"{key} must be" in str(error.value)
    assert "finite" in str(error.value)
    with pytest.raises(ConfigError, match=f"^{key} must be a finite number, got"):
        AugmentSettings(**{key: given})


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        *((key, "1.5", "a number") for key in FLOATS),
        ("seed", "1", "an integer"),
        ("n_per_structure", 2.5, "an integer"),
        ("max_relax_steps", None, "an integer"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type(key, value, kind):
    with pytest.raises(ConfigError, match=f"{key} must be {kind}"):
        load_config(config(**{key: value}))
    with pytest.raises(ConfigError, match=f"^{key} must be {kind}, got {value!r}"):
        AugmentSettings(**{key: value})
