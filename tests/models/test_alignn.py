"""ALIGNN physics beyond the shared suite: geometry awareness, smoothness, penalty."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from calculator_factories import ALIGNN_COMPATIBLE, alignn_calculator, alignn_model

import asegen.nn.norm
import asegen.nn.scatter
from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph
from asegen.models.alignn import ALIGNNConfig
from asegen.models.alignn.network import EdgeGatedConv
from asegen.models.potential import predict
from asegen.testing import assert_forces_match_fd, assert_stress_matches_fd


def energy(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy()


def silicon(a):
    atoms = bulk("Si", "diamond", a=a, cubic=True)
    atoms.rattle(0.05, seed=1)
    return atoms


def test_default_model_sees_geometry_of_an_element():
    calc = alignn_calculator(cutoff=5.0, three_body_cutoff=3.5)
    energies = [energy(calc, silicon(a)) for a in (5.0, 5.43, 5.9)]
    assert np.ptp(energies) > 1e-2
    atoms = silicon(5.43)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 1e-3
    assert_forces_match_fd(calc, atoms)
    assert_stress_matches_fd(calc, atoms)


def test_alignn_compatible_model_is_blind_to_elemental_geometry():
    # the anchor's flaw, kept for from_alignn: normalised gates average
    # identical neighbours, so geometry never reaches the atoms
    calc = alignn_calculator(cutoff=5.0, three_body_cutoff=3.5, **ALIGNN_COMPATIBLE)
    energies = [energy(calc, silicon(a)) for a in (5.0, 5.43, 5.9)]
    assert np.ptp(energies) < 1e-5
    atoms = silicon(5.43)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() < 1e-5


def stretched(d):
    """A Cu-Au-Cu chain whose last atom sits d further along x (non-periodic)."""
    return Atoms("CuAuCu", positions=[[0, 0, 0], [2.5, 0, 0], [2.5 + d, 0.4, 0]])


@pytest.mark.parametrize("crossing", ["cutoff", "three_body_cutoff"])
def test_energy_is_continuous_across_cutoffs(crossing):
    smooth = alignn_calculator()
    hard = alignn_calculator(aggregation="sum", smooth_cutoff=False)
    edge = {"cutoff": 4.0, "three_body_cutoff": 3.0}[crossing]
    # the bond length sqrt(d^2 + 0.4^2) crosses the chosen cutoff
    d = np.sqrt(edge**2 - 0.4**2)
    below, above = stretched(d - 1e-9), stretched(d + 1e-9)
    assert abs(energy(smooth, below) - energy(smooth, above)) < 1e-7
    assert abs(energy(hard, below) - energy(hard, above)) > 1e-4


def test_nearest_neighbour_swap_jumps_only_with_max_neighbors():
    def two_neighbours(x):
        # atom 0 sees atoms 1 and 2 at nearly equal distance; they swap order at x=0
        return Atoms("CuAuAg", positions=[[0, 0, 0], [2.6 + x, 0, 0], [0, 2.6 - x, 0]])

    capped = alignn_calculator(max_neighbors=1, aggregation="sum", smooth_cutoff=False)
    radius = alignn_calculator()
    # 1e-7 Å: the energy moves by ~1e-8 eV along its slope; a swap jumps much more
    before, after = two_neighbours(1e-7), two_neighbours(-1e-7)
    assert abs(energy(capped, before) - energy(capped, after)) > 1e-4
    assert abs(energy(radius, before) - energy(radius, after)) < 1e-6


@pytest.mark.parametrize("distance", [0.85, 0.98, 1.2])
def test_short_range_terms_only_where_they_reach(distance):
    """ZBL below 0.9 Å, the penalty below 1.0 Å, nothing beyond: exact forces."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.positions[1] = atoms.positions[0] + [distance, 0.0, 0.0]
    calc = alignn_calculator(zbl_cutoff=0.9, penalty_threshold=1.0)
    assert_forces_match_fd(calc, atoms)
    without = alignn_calculator(use_penalty=False, use_zbl=False)
    extra = energy(calc, atoms) - energy(without, atoms)
    if distance < 1.0:
        assert extra > 1e-3
    else:
        assert extra == 0.0


def test_penalty_and_zbl_are_in_energy_forces_and_stress():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.positions[1] = atoms.positions[0] + [
        0.55,
        0.3,
        0.2,
    ]  # d = 0.66 Å: penalty + ZBL
    calc = alignn_calculator(zbl_cutoff=0.9, penalty_threshold=1.0)
    assert_forces_match_fd(calc, atoms)
    assert_stress_matches_fd(calc, atoms)
    without = alignn_calculator(use_penalty=False, use_zbl=False)
    assert (
        energy(calc, atoms) - energy(without, atoms) > 1.0
    )  # the wall is in the energy


def test_per_atom_energies_sum_to_energy_and_batches_split():
    model = alignn_model().double().eval()
    images = [silicon(5.43), bulk("Cu", "fcc", a=3.6, cubic=True)]
    graph = atoms_to_graph(images, **model.graph_options(), dtype=torch.float64)
    out = predict(model, graph, stress=True)
    sums = torch.zeros(2, dtype=torch.float64).index_add_(
        0, graph.batch, out["energies"]
    )
    assert torch.allclose(sums, out["energy"])
    for k, atoms in enumerate(images):
        alone = predict(
            model,
            atoms_to_graph(atoms, **model.graph_options(), dtype=torch.float64),
            stress=True,
        )
        assert torch.allclose(alone["energy"], out["energy"][k : k + 1], atol=1e-10)
        assert torch.allclose(alone["stress"], out["stress"][k : k + 1], atol=1e-10)


def test_training_mode_keeps_the_graph_for_force_losses():
    model = alignn_model().double()
    graph = atoms_to_graph(silicon(5.43), **model.graph_options(), dtype=torch.float64)
    model.train()
    out = predict(model, graph)
    out["forces"].pow(2).sum().backward()  # needs create_graph=True
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()
    )
    model.eval()
    assert not predict(model, graph)["forces"].requires_grad


def test_training_and_eval_modes_give_the_same_force_loss_gradients(monkeypatch):
    """Training runs the plain LayerNorm, eval the recomputing one: same maths."""
    for module in (asegen.nn.norm, asegen.nn.scatter):  # recompute at any size
        monkeypatch.setattr(module, "LEAN_MIN_ELEMENTS", 0)
    model = alignn_model().double()
    atoms = silicon(5.43)
    atoms.rattle(0.05, seed=1)
    graph = atoms_to_graph(atoms, **model.graph_options(), dtype=torch.float64)

    def gradients(training):
        model.train(training)
        model.zero_grad()
        out = predict(model, graph, stress=True, create_graph=True)
        loss = out["forces"].pow(2).sum() + out["stress"].pow(2).sum()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert len(grads) > 10
        return [out["energy"].detach(), *(g.clone() for g in grads)]

    for got, want in zip(gradients(True), gradients(False), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"aggregation": "max"}, "aggregation must be one of"),
        ({"three_body_cutoff": 6.0}, "three_body_cutoff"),
        ({"atom_input_features": 11}, "atom_input_features is 11"),
        ({"atom_features": "voronoi"}, "atom_features must be one of"),
        ({"cutoff_extra": 0.0}, "cutoff_extra must be positive"),
        ({"output_features": 2}, "output_features: 1"),
    ],
)
def test_config_errors_name_the_field(options, message):
    with pytest.raises(ConfigError, match=message):
        ALIGNNConfig(**options)


@pytest.mark.parametrize(
    "features", ["cgcnn", "basic", "cfid", "atomic_number", "embedding"]
)
def test_every_atom_feature_table_runs(features):
    calc = alignn_calculator(atom_features=features)
    assert np.isfinite(energy(calc, silicon(5.43)))


def test_checkpoints_load_without_rounding(tmp_path):
    from asegen.models.checkpoint import load_checkpoint, save_checkpoint, state_dtype

    model = alignn_model().double()
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    for (name, a), b in zip(
        model.state_dict().items(), loaded.state_dict().values(), strict=True
    ):
        assert b.dtype == a.dtype, name
        assert torch.equal(a, b), name
    mixed = {
        "table": torch.zeros(3, dtype=torch.float32),
        "w": torch.ones(2, dtype=torch.float64),
    }
    assert state_dtype(mixed) == torch.float64  # the widest, never the first


def test_calculator_applies_the_models_cutoff_extra():
    options = {"max_neighbors": 1, "cutoff_extra": 1.0, "smooth_cutoff": False}
    calc = alignn_calculator(**options)
    assert calc._neighbors.cutoff_extra == 1.0
    # dilute: no atom has a neighbour within 5 Å until the fallback grows it
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 5.5]], cell=[16] * 3, pbc=True)
    graph = atoms_to_graph(atoms, **calc.model.graph_options(), dtype=torch.float64)
    assert graph.n_edges == 2
    expected = float(predict(calc.model, graph)["energy"])
    assert energy(calc, atoms) == pytest.approx(expected, rel=1e-12)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 0  # the grown pair is seen


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_convolution_on_the_active_nodes_equals_the_full_one(aggregation, weighted):
    """Nodes outside ``active`` send and receive nothing: same values, same grads."""
    torch.manual_seed(0)
    conv = EdgeGatedConv(4, aggregation).double().eval()
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)  # 6 nodes
    y = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)  # 5 edges
    active = torch.tensor([1, 3, 4])
    src, dst = torch.tensor([0, 1, 2, 2, 0]), torch.tensor([1, 1, 0, 2, 2])
    weight = torch.rand(5, dtype=torch.float64) if weighted else None

    def run(*args):
        x_new, y_new = conv(x, y, *args)
        sums = (x_new.sin().sum() + y_new.cos().sum(),)
        return [x_new, y_new, *torch.autograd.grad(sums, [x, y])]

    got = run(src, dst, weight, True, active)
    want = run(active[src], active[dst], weight, True, None)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(got[0][0], x[0])  # inactive nodes are still updated
