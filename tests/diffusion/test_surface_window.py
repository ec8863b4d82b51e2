"""Surface models keep their training window relative to the top of the template.

Untrained tiny models whose process is fitted to a few slabs: the window a
sample gets is a property of the request, not of training.
"""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import fcc111
from ase.constraints import FixAtoms

from asegen.diffusion import DiffusionConfig, DiffusionTask, Process
from asegen.diffusion.generator import DiffusionGenerator
from asegen.diffusion.process import heights, top_height
from asegen.errors import ConfigError
from asegen.models import ScoreModel
from asegen.models.score import ScoreConfig

OPTIONS = {"steps": 4, "seed": 0, "progress": False}


def slab(vacuum=6.0, size=(2, 2, 2)):
    atoms = fcc111("Cu", size=size, vacuum=vacuum)
    atoms.set_constraint(FixAtoms(indices=range(len(atoms))))
    return atoms


def training_slabs(below=1.0, above=4.0):
    """Slabs of two heights, each with its window [top + below, top + above]."""
    images = []
    for vacuum in (5.0, 7.0, 9.0):
        atoms = slab(vacuum)
        top = atoms.positions[:, 2].max()
        atoms += Atoms("Au", positions=[[0.5, 0.5, top + 2.0]])
        atoms.info["confinement"] = [top + below, top + above]
        images.append(atoms)
    return images


def fitted():
    return Process.fit(DiffusionConfig(noiser="surface"), training_slabs()).hparams()


def generator(process):
    settings = DiffusionConfig(noiser="surface")
    config = ScoreConfig(
        features=8, layers=1, cutoff=4.0, **DiffusionTask.model_defaults(settings)
    )
    torch.manual_seed(0)
    return DiffusionGenerator(ScoreModel(config, process), device="cpu")


def added_heights(atoms, template):
    return atoms.positions[len(template) :, 2]


def test_the_fitted_window_is_relative_to_the_highest_fixed_atom():
    settings = DiffusionConfig(noiser="surface")
    process = Process.fit(settings, training_slabs())
    assert process.confinement_above == pytest.approx([1.0, 4.0])
    assert Process.from_hparams(process.hparams()).confinement_above == pytest.approx(
        [1.0, 4.0]
    )
    loose = [a.copy() for a in training_slabs()]
    for atoms in loose:
        atoms.set_constraint()  # nothing fixed: nothing to be relative to
    assert Process.fit(settings, loose).confinement_above is None
    bulk_like = DiffusionConfig(noiser="periodic", cell=False)
    assert Process.fit(bulk_like, training_slabs()).confinement_above is None


def test_a_template_alone_gets_the_training_window_on_its_top():
    gen = generator(fitted())
    high = slab(vacuum=12.0, size=(2, 2, 3))  # taller, higher than any training slab
    top = high.positions[:, 2].max()
    out = gen.sample(6, template=high, formula="Au", **OPTIONS)
    z = np.concatenate([added_heights(a, high) for a in out])
    assert out[0].info["confinement"] == pytest.approx([top + 1.0, top + 4.0])
    assert (z >= top + 1.0 - 1e-4).all()
    assert (z <= top + 4.0 + 1e-4).all()
    assert z.min() > max(a.info["confinement"][1] for a in training_slabs())
    assert top_height(high, np.ones(len(high), bool)) == pytest.approx(top)


def test_an_explicit_window_or_the_templates_own_wins():
    gen = generator(fitted())
    template = slab()
    top = template.positions[:, 2].max()
    own = (top + 5.0, top + 6.0)
    template.info["confinement"] = list(own)
    z = added_heights(gen.sample(4, template=template, formula="Au", **OPTIONS)[0],
                      template)  # fmt: skip
    assert ((z >= own[0] - 1e-4) & (z <= own[1] + 1e-4)).all()
    given = (top + 7.0, top + 7.5)
    out = gen.sample(4, template=template, formula="Au", confinement=given, **OPTIONS)
    z = np.concatenate([added_heights(a, template) for a in out])
    assert ((z >= given[0] - 1e-4) & (z <= given[1] + 1e-4)).all()


def test_a_model_saved_before_the_relative_window_keeps_working():
    fitted = Process.fit(
        DiffusionConfig(noiser="surface", confinement=[9.0, 12.0]), training_slabs()
    ).hparams()
    old = {k: v for k, v in fitted.items() if k != "confinement_above"}
    gen = generator(old)
    assert gen.process.confinement_above is None
    template = slab(vacuum=10.0)
    out = gen.sample(3, template=template, formula="Au", **OPTIONS)
    z = np.concatenate([added_heights(a, template) for a in out])
    assert ((z >= 9.0 - 1e-4) & (z <= 12.0 + 1e-4)).all()  # the absolute default
    no_default = generator({**old, "confinement": None})
    with pytest.raises(ConfigError, match="needs the confinement window"):
        no_default.sample(1, template=template, formula="Au", **OPTIONS)


def test_heights_follow_the_normal_of_a_tilted_plane():
    atoms = Atoms(
        "Cu2",
        positions=[[0, 0, 1.0], [1, 0, 2.0]],
        cell=[[3, 0, 3], [0, 3, 0], [0, 0, 10]],
        pbc=(True, True, False),
    )
    normal = np.array([-1.0, 0.0, 1.0]) / np.sqrt(2)
    assert heights(atoms) == pytest.approx(atoms.positions @ normal)
