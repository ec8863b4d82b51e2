"""Wave batching (``wave_width``): several children of one family at once."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.calculators.emt import EMT
from augment_helpers import (
    SETTINGS,
    BatchEMT,
    InterruptingEMT,
    assert_labels_fresh,
    cu_cell,
    cu_cluster,
    run_ok,
    write_config,
)

from asegen.augment import Augmenter, run_config
from asegen.augment import growth as growth_module
from asegen.augment.family import pool_size
from asegen.augment.operations import fractional, similar_to_any

DATA = Path(__file__).parent / "data"

#: Two families of 10 in waves of 4 (slots 1-4, 5-8, 9); slot 7 of family 1
#: is rejected at admission (similar to slot 5 or 6) and tries again.
WAVE = {"n_per_structure": 10, "seed": 6, "cell_sigma": 0.02, "wave_width": 4}


def images():
    return [cu_cell(0), cu_cluster(2)]


def grow(calc=None, inputs=None, **options):
    augmenter = Augmenter(calc or EMT(), **{**WAVE, **options})
    return list(augmenter.run(inputs or images())), augmenter.stats


def assert_same(first, second, *, atol=0.0):
    assert [a.info for a in first] == [b.info for b in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=atol)
        np.testing.assert_array_equal(a.cell.array, b.cell.array)
        assert a.get_potential_energy() == pytest.approx(
            b.get_potential_energy(), rel=0, abs=max(atol, 1e-12)
        )


@pytest.fixture
def admissions(monkeypatch):
    """Record (start, slot, admitted) of every admission test."""
    seen = []
    test = growth_module._Growth._admissible

    def recording(growth, slot):
        admitted = test(growth, slot)
        seen.append((growth.task.start, slot.index, admitted))
        return admitted

    monkeypatch.setattr(growth_module._Growth, "_admissible", recording)
    return seen


def test_width_one_is_the_loop_before_waves():
    """B = 1 is augment-atoms' loop: the output of asegen before waves existed.

    ``data/asegen_emt.xyz`` was written by asegen at commit 1de56af (no
    ``wave_width``) with these settings from ``data/anchor_inputs.xyz``; that
    run made 21 calculator calls and rejected 61 similar candidates.
    """
    inputs = ase.io.read(DATA / "anchor_inputs.xyz", ":")
    settings = {"n_per_structure": 6, "seed": 42, "cell_sigma": 0.02}
    augmenter = Augmenter(EMT(), wave_width=1, **settings)
    ours = list(augmenter.run(inputs))
    assert (augmenter.stats.calls, augmenter.stats.rejected["similar"]) == (21, 61)
    reference = ase.io.read(DATA / "asegen_emt.xyz", ":")
    assert [a.info for a in ours] == [a.info for a in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        np.testing.assert_allclose(mine.positions, theirs.positions, atol=1e-12)
        np.testing.assert_allclose(mine.get_forces(), theirs.get_forces(), atol=1e-8)
        assert mine.get_potential_energy() == pytest.approx(
            theirs.get_potential_energy(), abs=1e-12
        )


def test_waves_are_fixed_by_slot_number():
    assert [pool_size(k, 1) for k in range(5)] == [0, 1, 2, 3, 4]
    assert [pool_size(k, 4) for k in range(11)] == [0, 1, 1, 1, 1, 5, 5, 5, 5, 9, 9]


def test_children_are_admitted_in_slot_order_apart_from_their_siblings(admissions):
    out, _ = grow()
    assert [a.info["id"] for a in out] == [
        f"{s}-{k}" for s in (0, 1) for k in range(10)
    ]
    retried = [(start, slot) for start, slot, admitted in admissions if not admitted]
    assert retried  # rejected at admission, then admitted after further attempts
    for start, slot in retried:
        assert (start, slot, True) in admissions
    for family in (out[:10], out[10:]):
        ids = {a.info["id"]: k for k, a in enumerate(family)}
        members = np.array([fractional(a.positions, a.cell.array) for a in family])
        for k, atoms in enumerate(family[1:], start=1):
            assert ids[atoms.info["parent"]] < pool_size(k, 4)  # before its wave
            assert not similar_to_any(
                members[k], atoms.cell.array, atoms.pbc, members[:k], 0.1
            )
    for atoms in out:
        assert_labels_fresh(atoms)


def test_wave_children_respect_max_force_and_min_separation():
    settings = {"sigma_range": (0.05, 0.2), "min_separation": 2.3, "max_force": 3.0}
    out, stats = grow(**settings)
    assert stats.rejected["force"] > 0
    assert stats.rejected["separation"] > 0
    for atoms in out[1:10] + out[11:]:
        assert np.linalg.norm(atoms.get_forces(), axis=1).max() <= 3.0
        distances = atoms.get_all_distances(mic=atoms.pbc.any())
        assert distances[np.triu_indices(len(atoms), 1)].min() >= 2.3


def test_waves_are_deterministic_whatever_the_batching(admissions):
    first, first_stats = grow()
    assert any(not admitted for *_, admitted in admissions)
    again, again_stats = grow()
    assert_same(first, again)
    assert first_stats == again_stats
    other, _ = grow(seed=7)
    assert [a.positions.tolist() for a in other] != [
        a.positions.tolist() for a in first
    ]
    BatchEMT.batches = []
    wide, wide_stats = grow(BatchEMT(), batch_size=64)
    assert max(BatchEMT.batches) > 4  # slots of both families in one call
    BatchEMT.batches = []
    narrow, narrow_stats = grow(BatchEMT(), batch_size=3)
    assert max(BatchEMT.batches) == 3
    assert wide_stats == narrow_stats == first_stats
    assert_same(wide, narrow)
    assert_same(wide, first, atol=2e-8)  # EMT's neighbour-list reuse: last bits


def test_waves_cut_the_batched_calls_of_one_family():
    calls = {}
    for width in (1, 8):
        BatchEMT.batches = []
        out, stats = grow(
            BatchEMT(),
            inputs=[cu_cell(0)],
            n_per_structure=17,
            wave_width=width,
            batch_size=8,
        )
        assert len(out) == 17
        assert sum(BatchEMT.batches) == stats.calls
        calls[width] = len(BatchEMT.batches)
    assert calls[8] < calls[1] / 2


def test_any_prefix_of_a_family_resumes_to_the_same_family():
    full, _ = grow()
    for done in range(1, 10):
        existing = full[:10] + full[10 : 10 + done]  # family 1 cut after `done`
        rest = list(Augmenter(EMT(), **WAVE).run(images(), existing=existing))
        assert_same(rest, full[10 + done :])


@pytest.mark.parametrize("at", [6, 14, 30])
def test_an_interrupted_wave_resumes_to_the_uninterrupted_file(workdir, at):
    config = {
        "data": {"input": "inputs.xyz", "output": "out.xyz"},
        "config": {**SETTINGS, **WAVE},
        "model": {"calculator": InterruptingEMT(at=at)},
    }
    with pytest.raises(KeyboardInterrupt):
        run_config(config)
    done = len(ase.io.read(workdir / "out.xyz", ":"))
    assert 0 < done < 30
    config["model"]["calculator"] = EMT()
    assert run_config(config).structures == 30 - done
    config["data"]["output"] = "straight.xyz"
    run_config(config)
    assert (workdir / "out.xyz").read_bytes() == (workdir / "straight.xyz").read_bytes()


def test_topping_up_and_workers_give_the_same_file(workdir, monkeypatch):
    from asegen.augment import parallel

    context = parallel.multiprocessing.get_context("fork")
    monkeypatch.setattr(parallel, "_context", lambda: context)
    settings = {"cell_sigma": 0.02, "wave_width": 3}
    write_config(workdir, n_per_structure=5, **settings)  # waves 1-3, 4-(6)
    run_ok("augment", "config.yaml")
    run_ok("augment", "config.yaml", "--set", "config.n_per_structure=8")
    write_config(
        workdir, n_per_structure=8, output="all.xyz", name="all.yaml", **settings
    )
    run_ok("augment", "all.yaml", "--workers", "2")
    topped_up = {a.info["id"]: a for a in ase.io.read(workdir / "out.xyz", ":")}
    straight = ase.io.read(workdir / "all.xyz", ":")
    assert_same([topped_up.pop(a.info["id"]) for a in straight], straight)
    assert not topped_up
