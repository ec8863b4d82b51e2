"""The diffusion score network: symmetries, conditioning, round trips, config errors.

Tiny float64 models whose zero-initialised weights (FiLM, type logits, null
embeddings) are perturbed, so every input visibly reaches every head.
"""

import json

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.constraints import FixAtoms
from scipy.spatial.transform import Rotation

from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph
from asegen.models import (
    MODELS,
    Head,
    ScoreConfig,
    ScoreModel,
    load_checkpoint,
    save_checkpoint,
)

CUTOFF = 4.0
PROPERTIES = {"gap": {"kind": "scalar"}, "group": {"kind": "integer", "classes": 5}}
HEADS = {"positions": {}, "types": {"classes": 4}, "cell": {}}
TOL = {"rtol": 1e-9, "atol": 1e-10}


def make_model(seed=0, **options):
    options = {
        "cutoff": CUTOFF,
        "features": 16,
        "layers": 2,
        "radial_basis": 8,
        "heads": HEADS,
        "properties": PROPERTIES,
        **options,
    }
    torch.manual_seed(seed)
    model = ScoreModel(ScoreConfig(**options)).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model


def periodic(seed=0):
    """A rattled 5-atom triclinic Cu-Au cell with one type-masked atom (X)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[4.1, 0.0, 0.0], [1.2, 3.8, 0.0], [0.7, 0.9, 3.9]])
    return Atoms(
        "CuAuCuXAu",
        scaled_positions=rng.random((5, 3)),
        cell=cell,
        pbc=True,
    )


def molecule(seed=1):
    """A 4-atom Cu-Au cluster with a zero cell and no pbc."""
    rng = np.random.default_rng(seed)
    return Atoms("CuAuAuCu", positions=rng.normal(scale=1.3, size=(4, 3)))


def labels(n, t=None, gap=None, group=None):
    out = {"t": torch.tensor(t or [0.3] * n, dtype=torch.float64)[:, None]}
    if gap is not None:
        out["property:gap"] = torch.tensor(gap, dtype=torch.float64)[:, None]
    if group is not None:
        out["property:group"] = torch.tensor(group, dtype=torch.float64)[:, None]
    return out


def run(model, images, **label_values):
    images = [images] if isinstance(images, Atoms) else images
    graph = atoms_to_graph(images, CUTOFF, dtype=torch.float64)
    graph = graph.with_labels(structure=labels(len(images), **label_values))
    with torch.no_grad():
        return model(graph)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **TOL)


def differs(a, b, key):
    return (a[key] - b[key]).abs().max() > 1e-6


def rotated(atoms, rotation):
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ rotation.T)
    atoms.positions = atoms.positions @ rotation.T
    return atoms


@pytest.mark.parametrize("make", [periodic, molecule])
def test_heads_rotate_with_the_structure(make):
    model = make_model()
    atoms = make()
    rotation = torch.as_tensor(Rotation.random(random_state=3).as_matrix())
    values = {"gap": [0.4], "group": [2.0]}
    out = run(model, atoms, **values)
    turned = run(model, rotated(atoms, rotation.numpy()), **values)
    assert out["positions"].abs().max() > 1e-3
    torch.testing.assert_close(turned["positions"], out["positions"] @ rotation.T)
    torch.testing.assert_close(turned["types"], out["types"], **TOL)
    torch.testing.assert_close(turned["cell"], rotation @ out["cell"] @ rotation.T)


def test_cell_output_is_symmetric_and_per_structure():
    out = run(make_model(), [periodic(), molecule()], t=[0.2, 0.9])
    cell = out["cell"]
    assert cell.shape == (2, 3, 3)
    torch.testing.assert_close(cell, cell.transpose(1, 2), rtol=0, atol=1e-14)
    assert out["positions"].shape == (9, 3)
    assert out["types"].shape == (9, 4)


def test_translation_and_lattice_wrapping_change_nothing():
    model = make_model()
    atoms = periodic()
    out = run(model, atoms)
    shifted = atoms.copy()
    shifted.positions += [0.37, -1.2, 2.9]
    assert_same(run(model, shifted), out)
    wrapped = atoms.copy()
    cell = atoms.cell.array
    wrapped.positions[[0, 3]] += [cell[0] - 2 * cell[2], cell[1] + cell[0]]
    assert_same(run(model, wrapped), out)


def test_atoms_permute_with_their_outputs():
    model = make_model()
    atoms = periodic()
    order = np.array([3, 0, 4, 2, 1])
    out = run(model, atoms)
    permuted = run(model, atoms[order])
    torch.testing.assert_close(permuted["positions"], out["positions"][order], **TOL)
    torch.testing.assert_close(permuted["types"], out["types"][order], **TOL)
    torch.testing.assert_close(permuted["cell"], out["cell"], **TOL)


def test_batch_equals_loop():
    model = make_model()
    images = [periodic(), molecule()]
    batched = run(model, images, t=[0.2, 0.8], gap=[0.5, float("nan")], group=[1, 3])
    first = run(model, images[0], t=[0.2], gap=[0.5], group=[1])
    second = run(model, images[1], t=[0.8], group=[3])  # no gap label: not given
    for key in ("positions", "types"):
        joined = torch.cat([first[key], second[key]])
        torch.testing.assert_close(batched[key], joined, **TOL)
    torch.testing.assert_close(
        batched["cell"], torch.cat([first["cell"], second["cell"]]), **TOL
    )


@pytest.mark.parametrize(("name", "value"), [("gap", 1.3), ("group", 4.0)])
def test_nan_property_is_the_null_embedding(name, value):
    model = make_model()
    atoms = periodic()
    absent = run(model, atoms)
    nan = run(model, atoms, **{name: [float("nan")]})
    given = run(model, atoms, **{name: [value]})
    assert_same(nan, absent)
    for key in HEADS:
        assert differs(given, absent, key)


def test_time_changes_every_head():
    model = make_model()
    early, late = run(model, periodic(), t=[0.1]), run(model, periodic(), t=[0.7])
    for key in HEADS:
        assert differs(early, late, key)


def test_fixed_atoms_see_time_zero():
    model = make_model()
    # a fixed pair and a mobile atom farther than the cutoff from both: the
    # pair sees only itself, so nothing of its outputs may depend on t
    far = 3 * CUTOFF
    atoms = Atoms("CuAuCu", positions=[[0, 0, 0], [1.4, 1.9, 0.5], [0, 0, far]])
    atoms.set_constraint(FixAtoms([0, 1]))
    graph = atoms_to_graph(atoms, CUTOFF, dtype=torch.float64)
    assert graph.n_edges == 2
    assert graph.fixed.tolist() == [True, True, False]
    outs = []
    for t in (0.1, 0.9):
        timed = graph.with_labels(structure={"t": torch.tensor([[t]]).double()})
        expected = torch.tensor([0.0, 0.0, t]).double()
        torch.testing.assert_close(model.conditioning.atom_times(timed), expected)
        with torch.no_grad():
            outs.append(model(timed))
    early, late = outs
    for key in ("positions", "types"):
        torch.testing.assert_close(early[key][:2], late[key][:2], **TOL)
    assert early["positions"][:2].abs().max() > 1e-3
    assert (early["types"][2] - late["types"][2]).abs().max() > 1e-6
    # an isolated atom has no direction: its positions output is zero
    assert early["positions"][2].abs().max() < 1e-12


def test_hparams_round_trip_gives_identical_outputs():
    model = make_model()
    hparams = model.hparams()
    assert json.loads(json.dumps(hparams)) == hparams  # plain data
    rebuilt = ScoreModel.from_hparams(hparams).double().eval()
    rebuilt.load_state_dict(model.state_dict())
    images = [periodic(), molecule()]
    values = {"t": [0.4, 0.6], "gap": [0.1, 0.2], "group": [0.0, 4.0]}
    out = run(model, images, **values)
    again = run(rebuilt, images, **values)
    for key in out:
        assert torch.equal(out[key], again[key])


def test_checkpoint_round_trip(tmp_path):
    model = make_model()
    save_checkpoint(tmp_path / "score.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "score.pt")
    assert isinstance(loaded, ScoreModel)
    assert loaded.config == model.config
    assert_same(run(loaded.eval(), periodic()), run(model, periodic()))


def test_contract_registration_heads_and_graph_options():
    assert MODELS["score"] is ScoreModel
    model = ScoreModel.from_config({"cutoff": 5.0, "heads": HEADS})
    assert model.model_name == "score"
    assert model.task == "diffusion"
    assert not model.predicts_energy
    assert model.graph_options() == {"cutoff": 5.0, "max_neighbors": None}
    assert model.heads() == {
        "positions": Head(True, 3),
        "types": Head(True, 4),
        "cell": Head(False, 9),
    }
    assert ScoreModel().heads() == {"positions": Head(True, 3)}


def test_float32_forward_and_backward():
    model = make_model().float().train()
    graph = atoms_to_graph([periodic(), molecule()], CUTOFF, dtype=torch.float32)
    graph = graph.with_labels(structure={"t": torch.tensor([[0.5], [0.1]])})
    out = model(graph)
    assert all(value.dtype == torch.float32 for value in out.values())
    sum(value.square().sum() for value in out.values()).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_missing_time_is_a_clear_error():
    graph = atoms_to_graph(periodic(), CUTOFF, dtype=torch.float64)
    with pytest.raises(ValueError, match="structure label 't'"):
        make_model()(graph)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"heads": {"energy": {}}}, "unknown head 'heads.energy'; valid heads: posi"),
        ({"heads": {"types": {}}}, "heads.types needs 'classes'"),
        ({"heads": {"cell": {"size": 3}}}, "unknown option 'heads.cell.size'"),
        ({"properties": {"gap": {"kind": "float"}}}, "properties.gap.kind must be"),
        ({"properties": {"sg": {"kind": "integer"}}}, "properties.sg is an integer"),
        ({"properties": {"gap": {"kind": "scalar", "classes": 3}}}, "'properties.ga"),
        ({"time_features": 8}, "time_features must be an integer >= 16"),
        ({"layers": 0}, "layers must be an integer >= 1"),
        ({"features_": 8}, "did you mean 'model.features'"),
    ],
)
def test_config_errors_are_one_line(options, message):
    with pytest.raises(ConfigError, match=message) as error:
        ScoreModel.from_config(options)
    assert "\n" not in str(error.value)


def test_mean_aggregation_keeps_dense_cells_bounded():
    """A cell squeezed to a quarter of its volume has about four times the
    neighbours: summed messages compound that over the blocks, the mean
    does not (the lattice noiser makes such cells at mid diffusion times)."""
    atoms = periodic()
    squeezed = atoms.copy()
    squeezed.set_cell(atoms.cell * 0.63, scale_atoms=True)
    growth = {}
    for aggregation in ("mean", "sum"):
        model = make_model(aggregation=aggregation, layers=4)
        plain = run(model, atoms)["positions"].abs().max()
        dense = run(model, squeezed)["positions"].abs().max()
        growth[aggregation] = float(dense / plain)
    assert growth["mean"] < 10
    # the sum grows by far more, or overflows (nan): "not below" covers both
    assert not growth["sum"] < 10 * growth["mean"]


def test_mean_aggregation_is_the_sum_up_to_the_training_count_and_bounded_beyond():
    summed = make_model(aggregation="sum")
    averaged = make_model(aggregation="mean")
    atoms = periodic()
    graph = atoms_to_graph([atoms], CUTOFF, dtype=torch.float64)
    most = int(torch.bincount(graph.edge_index[0]).max())
    # no atom has more neighbours than in training: exactly the sum (a sparse,
    # stretched cell is never amplified)
    averaged.reference_neighbors.fill_(most)
    assert_same(run(averaged, atoms), run(summed, atoms))
    # a cell squeezed to an eighth of its volume: the sum grows with the
    # neighbours, the mean stays at the training count's size
    dense = atoms.copy()
    dense.set_cell(atoms.cell * 0.5, scale_atoms=True)
    growth = {}
    for name, model in (("sum", summed), ("mean", averaged)):
        before = run(model, atoms)["positions"].abs().max()
        growth[name] = float(run(model, dense)["positions"].abs().max() / before)
    assert growth["mean"] < growth["sum"] / 3, growth
