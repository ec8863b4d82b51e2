"""Bad config files of ``augment``, ``train alignn`` and ``train diffusion``.

Each case spoils one value of a good config (or the whole file) and expects
one ``Error:`` line naming the key or the file, exit code 2, and no file
changed or left behind (no empty output, no empty run directory).
"""

import json

import pytest
import yaml
from catalogue_helpers import accepted, refused

DELETE = object()

COMMANDS = {
    "alignn": ("alignn.yaml", ["train", "alignn", "alignn.yaml", "--data", "data.xyz",
                               "--out", "logs"]),
    "diffusion": ("score.yaml", ["train", "diffusion", "score.yaml", "--data",
                                 "data.xyz", "--out", "gen"]),
    "augment": ("augment.yaml", ["augment", "augment.yaml"]),
}  # fmt: skip


def spoil(path, key, value):
    """Set (or with DELETE remove) the dotted ``key`` of the YAML file ``path``."""
    data = yaml.safe_load(path.read_text())
    *sections, leaf = key.split(".")
    node = data
    for section in sections:
        node = node.setdefault(section, {})
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    path.write_text(yaml.safe_dump(data))


NAN, INF = float("nan"), float("inf")

VALUES = [
    # training: unknown keys
    ("alignn", "modle", {"cutoff": 4.0}, ["modle"]),
    ("alignn", "model.hidden_feature", 16, ["hidden_feature"]),
    ("alignn", "train.epoch", 1, ["epoch"]),
    ("alignn", "train.weights.charge", 1.0, ["charge"]),
    # training: wrong types
    ("alignn", "train.epochs", "ten", ["train.epochs", "ten"]),
    ("alignn", "train.epochs", True, ["train.epochs"]),
    ("alignn", "train.batch_size", 2.5, ["train.batch_size", "2.5"]),
    ("alignn", "train.learning_rate", "fast", ["train.learning_rate", "fast"]),
    ("alignn", "train.keep_data_order", "yes", ["train.keep_data_order"]),
    ("alignn", "model.cutoff", [4.0], ["model.cutoff"]),
    ("alignn", "model", [1, 2], ["model"]),
    ("alignn", "train", "fast", ["train"]),
    ("alignn", "train.weights", 1.0, ["train.weights"]),
    # training: NaN and infinity
    ("alignn", "train.learning_rate", NAN, ["train.learning_rate"]),
    ("alignn", "train.learning_rate", INF, ["train.learning_rate"]),
    ("alignn", "model.cutoff", NAN, ["cutoff"]),
    ("alignn", "model.cutoff", INF, ["cutoff"]),
    ("alignn", "train.weights.energy", NAN, ["weights"]),
    ("alignn", "train.grad_clip", -INF, ["train.grad_clip"]),
    # training: zero, negative and out-of-range sizes
    ("alignn", "train.epochs", 0, ["train.epochs", "0"]),
    ("alignn", "train.epochs", -1, ["train.epochs", "-1"]),
    ("alignn", "train.batch_size", 0, ["train.batch_size", "0"]),
    ("alignn", "train.learning_rate", -0.001, ["train.learning_rate"]),
    ("alignn", "train.learning_rate", 0.0, ["train.learning_rate"]),
    ("alignn", "model.hidden_features", 0, ["hidden_features"]),
    ("alignn", "model.alignn_layers", -1, ["alignn_layers"]),
    ("alignn", "model.cutoff", 0.0, ["cutoff"]),
    ("alignn", "model.cutoff", -4.0, ["cutoff"]),
    ("alignn", "train.num_workers", -1, ["train.num_workers", "-1"]),
    ("alignn", "train.seed", -1, ["train.seed", "-1"]),
    ("alignn", "train.weights.energy", -1.0, ["weights"]),
    ("alignn", "train.grad_clip", -1.0, ["train.grad_clip"]),
    ("alignn", "train.early_stopping", 0, ["train.early_stopping"]),
    ("alignn", "train.ema_decay", 1.5, ["train.ema_decay"]),
    ("alignn", "train.n_train", 100, ["12 structures", "100 train"]),
    ("alignn", "train.n_train", -2, ["train.n_train"]),
    ("alignn", "train.weight_decay", -0.1, ["train.weight_decay"]),
    ("alignn", "train.warmup_steps", -5, ["train.warmup_steps"]),
    # training: bad choices
    ("alignn", "train.optimizer", "sgdd", ["train.optimizer", "sgdd"]),
    ("alignn", "train.scheduler", "cosine-ish", ["train.scheduler", "cosine-ish"]),
    ("alignn", "train.dtype", "float16", ["float16"]),
    ("alignn", "train.device", "gpu", ["gpu"]),
    ("alignn", "train.trainable", ["no_such_module"], ["no_such_module"]),
    # diffusion
    ("diffusion", "diffusion.noiser", "crystal", ["diffusion.noiser", "crystal"]),
    ("diffusion", "diffusion.types_kind", "blurred", ["types_kind", "blurred"]),
    ("diffusion", "diffusion.sigma_min", NAN, ["diffusion.sigma_min"]),
    ("diffusion", "diffusion.sigma_max", -1.0, ["sigma_max"]),
    ("diffusion", "diffusion.sigma_min", 20.0, ["sigma_min"]),
    ("diffusion", "diffusion.p_uncond", 1.5, ["diffusion.p_uncond", "1.5"]),
    ("diffusion", "diffusion.repeat", 0, ["diffusion.repeat"]),
    ("diffusion", "diffusion.t_min", 0.0, ["diffusion.t_min"]),
    ("diffusion", "diffusion.conditioning", {"energy": "vector"}, ["vector"]),
    ("diffusion", "diffusion.conditioning", ["energy"], ["diffusion.conditioning"]),
    ("diffusion", "diffusion.confinement", [5.0, 1.0], ["confinement"]),
    ("diffusion", "diffusion.weights", {"spin": 1.0}, ["spin"]),
    ("diffusion", "diffusion.snr", INF, ["diffusion.snr"]),
    ("diffusion", "diffusion.bogus", 1, ["bogus"]),
    ("diffusion", "model.features", 0, ["features"]),
    ("diffusion", "model.features", "many", ["model.features", "many"]),
    # augment
    ("augment", "config.T", NAN, ["T"]),
    ("augment", "config.T", -300, ["T", "-300"]),
    ("augment", "config.n_per_structure", -1, ["n_per_structure", "-1"]),
    ("augment", "config.n_per_structure", "two", ["n_per_structure", "two"]),
    ("augment", "config.sigma_range", [0.05, 0.01], ["sigma_range"]),
    ("augment", "config.sigma_range", [0.01], ["sigma_range"]),
    ("augment", "config.sigma_range", [-0.01, 0.05], ["sigma_range"]),
    ("augment", "config.beta", 2.0, ["beta"]),
    ("augment", "config.seed", -1, ["seed", "-1"]),
    ("augment", "config.similarity_threshold", NAN, ["similarity_threshold"]),
    ("augment", "config.cell_sigma", NAN, ["cell_sigma"]),
    ("augment", "config.cell_sigma", -0.1, ["cell_sigma"]),
    ("augment", "config.units", "hartree", ["units", "hartree"]),
    ("augment", "config.max_force", -1.0, ["max_force"]),
    ("augment", "config.min_separation", INF, ["min_separation"]),
    ("augment", "config.max_relax_steps", -5, ["max_relax_steps"]),
    ("augment", "config.bogus", 1, ["bogus"]),
    ("augment", "surprise", {"a": 1}, ["surprise"]),
    ("augment", "data.input", DELETE, ["data.input"]),
    ("augment", "data.output", DELETE, ["data.output"]),
    ("augment", "data.input", 42, ["data.input"]),
    ("augment", "model.calculator", DELETE, ["calculator"]),
    ("augment", "model.calculator", "+no_such_module.Calc()", ["no_such_module"]),
    ("augment", "model.calculator", "+ase.calculators.emt.NoSuchCalc()",
     ["NoSuchCalc"]),
    ("augment", "model.calculator", "EMT", ["EMT"]),
    ("augment", "model.calculator", {"+ase.calculators.lj.LennardJones":
                                     {"sigma": "wide"}}, ["LennardJones"]),
    ("augment", "model.calculator", {"+ase.calculators.emt.EMT": [1, 2]}, ["EMT"]),
]  # fmt: skip


def _id(case):
    command, key, value, _ = case
    shown = "delete" if value is DELETE else repr(value)
    return f"{command}-{key}={shown}"[:60]


@pytest.mark.parametrize(
    ("command", "key", "value", "names"), VALUES, ids=[_id(c) for c in VALUES]
)
def test_a_spoiled_value_is_one_line_naming_its_key(work, command, key, value, names):
    path, args = COMMANDS[command]
    spoil(work / path, key, value)
    refused(args, *names)


SYNTAX_ERROR = "train:\n  epochs: [1\n"
WHOLE_FILES = [
    ("empty", ""),
    ("only a comment", "# nothing here\n"),
    ("yaml syntax error", SYNTAX_ERROR),
    ("tab indentation", "train:\n\tepochs: 1\n"),
    ("a list", "- 1\n- 2\n"),
    ("a string", "just words\n"),
    ("a number", "42\n"),
    ("duplicate keys", "train:\n  epochs: 1\ntrain:\n  epochs: 2\n"),
    ("binary", "\x00\x01\x02garbage"),
    ("not utf-8", b"train:\n  epochs: \xff\xfe\n"),
]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("kind", "text"), WHOLE_FILES, ids=[k for k, _ in WHOLE_FILES])
def test_a_config_file_that_is_no_mapping_is_one_line_naming_it(
    work, command, kind, text
):
    path, args = COMMANDS[command]
    if isinstance(text, bytes):
        (work / path).write_bytes(text)
    else:
        (work / path).write_text(text)
    refused(args, path)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_missing_or_folder_config_is_one_line_naming_it(work, command):
    path, args = COMMANDS[command]
    (work / path).unlink()
    refused(args, path)
    (work / path).mkdir()
    refused(args, path)


def test_a_json_config_trains_as_its_yaml_twin(work):
    config = yaml.safe_load((work / "alignn.yaml").read_text())
    (work / "alignn.json").write_text(json.dumps(config))
    accepted("train", "alignn", "alignn.json", "--data", "data.xyz", "--out", "logs")
    hparams = yaml.safe_load((work / "logs/version_0/hparams.yaml").read_text())
    stored = hparams["model"]["config"]
    assert stored["hidden_features"] == config["model"]["hidden_features"]
    assert hparams["train"]["epochs"] == 1
