import math

import numpy as np
import pytest
import torch
from ase import Atoms

from asegen.diffusion.types import MASK, TypeNoiser
from asegen.errors import ConfigError, StructureError
from asegen.graph import atoms_to_graph

VOCABULARY = [1, 8, 29, 79]  # H, O, Cu, Au
K = len(VOCABULARY)


def structure(numbers, seed, box=None):
    """Atoms with random positions in a sparse periodic box (few edges)."""
    rng = np.random.default_rng(seed)
    n = len(numbers)
    box = box or max(8.0, 4.0 * n ** (1 / 3))
    positions = rng.uniform(0.0, box, (n, 3))
    return Atoms(numbers=numbers, positions=positions, cell=[box] * 3, pbc=True)


def big_graph(n_structures, n_atoms, seed=0):
    rng = np.random.default_rng(seed)
    images = [
        structure(rng.choice(VOCABULARY, n_atoms), seed + s)
        for s in range(n_structures)
    ]
    return atoms_to_graph(images, cutoff=3.0)


def with_time(graph, t):
    t = torch.as_tensor(t, dtype=graph.positions.dtype)
    return graph.with_labels(structure={"t": t[:, None]})


def counts(graph, which=None):
    """(S, K) counts of each vocabulary element among ``which`` atoms."""
    which = ~graph.fixed if which is None else which
    index = {z: k for k, z in enumerate(VOCABULARY)}
    out = torch.zeros(graph.n_structures, K, dtype=torch.int64)
    for z, s in zip(
        graph.numbers[which].tolist(), graph.batch[which].tolist(), strict=True
    ):
        out[s, index[z]] += 1
    return out


def random_model(seed, scale=3.0):
    generator = torch.Generator().manual_seed(seed)

    def model(graph):
        return scale * torch.randn(len(graph.numbers), K, generator=generator)

    return model


def perfect_model(true_numbers, margin=30.0):
    index = torch.tensor(
        [VOCABULARY.index(z) if z in VOCABULARY else 0 for z in true_numbers.tolist()]
    )

    def model(graph):
        return margin * torch.nn.functional.one_hot(index, K).float()

    return model


def reverse(noiser, graph, model, steps, seed, check=None):
    generator = torch.Generator().manual_seed(seed)
    graph = noiser.prior(graph, generator)
    dt = 1.0 / steps
    for i in range(steps):
        t = 1.0 - i * dt
        graph = noiser.step(graph, model(graph), t, dt, generator, last=i == steps - 1)
        if check is not None:
            check(graph)
    return graph


def mixed_batch(seed=0):
    """Structures of different sizes and compositions, some with fixed atoms.

    Returns the graph with a "composition" label (zero counts included).
    """
    rng = np.random.default_rng(seed)
    images, wanted = [], []
    for s in range(10):
        n_fixed = 3 if s % 3 == 0 else 0
        n_mobile = int(rng.integers(1, 13))
        comp = rng.multinomial(n_mobile, rng.dirichlet(np.ones(K) * 0.5))
        wanted.append(comp)
        mobile_numbers = np.repeat(VOCABULARY, comp)
        atoms = structure([29] * n_fixed + list(mobile_numbers), seed + s)
        images.append(atoms)
    graph = atoms_to_graph(images, cutoff=3.0)
    fixed = torch.zeros(len(graph.numbers), dtype=torch.bool)
    start = 0
    for s, atoms in enumerate(images):
        if s % 3 == 0:
            fixed[start : start + 3] = True
        start += len(atoms)
    composition = torch.tensor(np.array(wanted), dtype=torch.int64)
    assert (composition == 0).any()
    graph = graph.replace(fixed=fixed)
    return graph.with_labels(structure={"composition": composition})


# --------------------------------------------------------------------- forward


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_forward_marginal_matches_alpha(kind, schedule):
    noiser = TypeNoiser(VOCABULARY, kind, schedule=schedule)
    times = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    graph = big_graph(len(times), 800)
    out = noiser.corrupt(graph, times, torch.Generator().manual_seed(1))
    alpha = noiser.alpha(times)
    assert alpha[0] == 1.0
    assert alpha[-1] == 0.0
    changed = out.numbers != graph.numbers
    for s in range(len(times)):
        atoms = graph.batch == s
        a = float(alpha[s])
        if kind == "absorbing":
            expected = 1.0 - a
            assert (out.numbers[atoms & changed] == MASK).all()
        else:
            expected = (1.0 - a) * (1.0 - 1.0 / K)
            assert set(out.numbers[atoms].tolist()) <= set(VOCABULARY)
        frac = float(changed[atoms].float().mean())
        sigma = math.sqrt(max(expected * (1 - expected), 1e-12) / 800)
        assert abs(frac - expected) <= 5 * sigma + 1e-12, (s, frac, expected)
    target = out.atom_labels["types_target"]
    assert target.dtype == torch.int64
    assert torch.equal(torch.tensor(VOCABULARY)[target], graph.numbers)
    weight = out.atom_labels["types_weight"]
    if kind == "absorbing":
        masked = out.numbers == MASK
        expected_weight = noiser.elbo_weight(times)[graph.batch]
        assert torch.allclose(weight[masked], expected_weight[masked])
        assert (weight[~masked] == 0).all()
    else:
        assert (weight == 1).all()


def test_linear_weight_is_one_over_t_and_cosine_matches_derivative():
    t = torch.tensor([0.1, 0.4, 0.8], dtype=torch.float64)
    linear = TypeNoiser(VOCABULARY)
    assert torch.allclose(linear.elbo_weight(t), 1 / t)
    cosine = TypeNoiser(VOCABULARY, schedule="cosine")
    tt = t.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(cosine.alpha(tt).sum(), tt)
    assert torch.allclose(cosine.elbo_weight(t), -grad / (1 - cosine.alpha(t)))


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_prior_equals_t1_marginal(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = big_graph(4, 1000)
    prior = noiser.prior(graph, torch.Generator().manual_seed(0))
    ones = torch.ones(4)
    forward = noiser.corrupt(graph, ones, torch.Generator().manual_seed(1))
    if kind == "absorbing":
        assert (prior.numbers == MASK).all()
        assert (forward.numbers == MASK).all()
        return
    n = len(graph.numbers)
    sigma = math.sqrt(n * (1 / K) * (1 - 1 / K))
    for sample in (prior, forward):
        hist = counts(sample).sum(0).float()
        assert (hist - n / K).abs().max() < 5 * sigma


def test_uniform_prior_with_composition_is_a_permutation():
    noiser = TypeNoiser(VOCABULARY, "uniform")
    graph = mixed_batch(3)
    generator = torch.Generator().manual_seed(0)
    prior = noiser.prior(graph, generator)
    assert torch.equal(counts(prior), graph.structure_labels["composition"])
    assert torch.equal(prior.numbers[graph.fixed], graph.numbers[graph.fixed])
    # the order is random: two draws of a large structure differ
    big = atoms_to_graph([structure([1] * 20 + [79] * 20, 0)], cutoff=3.0)
    big = big.with_labels(structure={"composition": torch.tensor([[20, 0, 0, 20]])})
    a = noiser.prior(big, generator).numbers
    b = noiser.prior(big, generator).numbers
    assert not torch.equal(a, b)


# --------------------------------------------------------------------- fixed


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_fixed_atoms_never_change(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    # Pt (78) is outside the vocabulary but fixed: allowed, never touched
    atoms = structure([78, 29, 29, 29, 8, 8, 1, 79, 79, 29], 0)
    graph = atoms_to_graph([atoms, atoms.copy()], cutoff=3.0)
    fixed = torch.zeros(len(graph.numbers), dtype=torch.bool)
    fixed[[0, 1, 2, 3, 10, 11, 12, 13]] = True
    graph = graph.replace(fixed=fixed)
    generator = torch.Generator().manual_seed(0)
    noisy = noiser.corrupt(graph, torch.ones(2), generator)
    assert torch.equal(noisy.numbers[fixed], graph.numbers[fixed])
    assert (noisy.atom_labels["types_target"][[0, 10]] == -1).all()
    assert (noisy.atom_labels["types_weight"][fixed] == 0).all()

    def check(g):
        assert torch.equal(g.numbers[fixed], graph.numbers[fixed])

    out = reverse(noiser, graph, random_model(1), 20, 2, check)
    assert set(out.numbers[~fixed].tolist()) <= set(VOCABULARY)


# ----------------------------------------------------------------- composition


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
@pytest.mark.parametrize("seed", [0, 1])
def test_composition_exact_with_random_model(kind, seed):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = mixed_batch(seed)
    wanted = graph.structure_labels["composition"]

    def check(g):
        assert torch.equal(g.numbers[graph.fixed], graph.numbers[graph.fixed])
        if kind == "absorbing":  # the budget is never exceeded on the way
            clean = ~graph.fixed & (g.numbers != MASK)
            assert (counts(g, clean) <= wanted).all()

    out = reverse(noiser, graph, random_model(seed + 10), 50, seed, check)
    assert (out.numbers != MASK).all()
    assert torch.equal(counts(out), wanted)


def test_composition_exact_when_everything_unmasks_in_one_step():
    # one step from t = 1 to t = 0.05 unmasks ~95 % of the atoms at once, with
    # a model that wants Au everywhere: the rounds must still keep to the budget
    noiser = TypeNoiser(VOCABULARY)
    graph = mixed_batch(5)
    wanted = graph.structure_labels["composition"]
    generator = torch.Generator().manual_seed(0)
    g = noiser.prior(graph, generator)
    logits = torch.zeros(len(g.numbers), K)
    logits[:, 3] = 10.0
    g = noiser.step(g, logits, 1.0, 0.95, generator, last=False)
    clean = ~graph.fixed & (g.numbers != MASK)
    assert clean.sum() > 0.8 * (~graph.fixed).sum()
    assert (counts(g, clean) <= wanted).all()
    g = noiser.step(g, logits, 0.05, 0.05, generator, last=True)
    assert torch.equal(counts(g), wanted)


def test_last_step_assignment_is_optimal():
    # two atoms, one H and one O requested; both prefer O, atom 0 far more:
    # argmax would give O twice, the optimal assignment gives O then H
    noiser = TypeNoiser(VOCABULARY)
    graph = atoms_to_graph([structure([1, 1], 0)], cutoff=3.0)
    graph = graph.with_labels(structure={"composition": torch.tensor([[1, 1, 0, 0]])})
    generator = torch.Generator().manual_seed(0)
    g = noiser.prior(graph, generator)
    logits = torch.tensor([[0.0, 5.0, 0.0, 0.0], [1.0, 2.0, 0.0, 0.0]])
    out = noiser.step(g, logits, 0.01, 0.01, generator, last=True)
    assert out.numbers.tolist() == [8, 1]


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_types_allowed_restricts_elements(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = big_graph(3, 30)
    allowed = torch.tensor(
        [[True, False, False, True], [False, False, True, False], [True] * 4]
    )
    graph = graph.with_labels(structure={"types_allowed": allowed})
    out = reverse(noiser, graph, random_model(4), 20, 0)
    for s in range(3):
        got = {VOCABULARY.index(z) for z in out.numbers[out.batch == s].tolist()}
        assert all(allowed[s, k] for k in got)
    bad = graph.with_labels(
        structure={"composition": torch.tensor([[0, 30, 0, 0]] * 3)}
    )
    with pytest.raises(ConfigError, match="forbids"):
        noiser.prior(bad, torch.Generator())


# ---------------------------------------------------------------- perfect model


@pytest.mark.parametrize("composition", [False, True])
@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_perfect_predictor_recovers_the_types(kind, composition):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = mixed_batch(7)
    if not composition:
        labels = dict(graph.structure_labels)
        labels.pop("composition")
        graph = graph.replace(structure_labels=labels)
    out = reverse(noiser, graph, perfect_model(graph.numbers), 25, 0)
    assert torch.equal(out.numbers, graph.numbers)


# ------------------------------------------------------------------------ loss


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_loss_perfect_small_wrong_large_and_differentiable(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = big_graph(3, 300)
    noisy = noiser.corrupt(graph, torch.tensor([0.2, 0.6, 1.0]), torch.Generator())
    target = noisy.atom_labels["types_target"]
    onehot = torch.nn.functional.one_hot(target, K).float()
    perfect = noiser.loss(30.0 * onehot, noisy)
    assert 0.0 <= float(perfect) < 1e-6
    wrong = noiser.loss(30.0 * onehot.roll(1, dims=1), noisy)
    assert float(wrong) > 10.0
    logits = torch.zeros(len(graph.numbers), K, requires_grad=True)
    flat = noiser.loss(logits, noisy)
    # an uninformed head costs about log K per atom: the loss is normalised O(1)
    assert abs(flat.item() - math.log(K)) < 0.2 * math.log(K)
    flat.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_loss_is_a_differentiable_zero_when_nothing_counts():
    noiser = TypeNoiser(VOCABULARY)
    graph = big_graph(2, 5)
    graph = graph.replace(fixed=torch.ones(len(graph.numbers), dtype=torch.bool))
    noisy = noiser.corrupt(graph, torch.ones(2), torch.Generator())
    assert torch.equal(noisy.numbers, graph.numbers)
    logits = torch.randn(len(graph.numbers), K, requires_grad=True)
    loss = noiser.loss(logits, noisy)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    # mobile atoms but none masked (t = 0): zero too
    noisy = noiser.corrupt(big_graph(2, 5), torch.zeros(2), torch.Generator())
    assert noiser.loss(logits, noisy).item() == 0.0


# ---------------------------------------------------------------------- errors


def one_line(info):
    message = str(info.value)
    assert "\n" not in message
    return message


def test_element_outside_vocabulary_is_one_line_error():
    noiser = TypeNoiser(VOCABULARY)
    graph = atoms_to_graph([structure([29, 78], 0)], cutoff=3.0)
    with pytest.raises(StructureError) as info:
        noiser.corrupt(graph, torch.tensor([0.5]), torch.Generator())
    message = one_line(info)
    assert "Pt" in message
    assert str(VOCABULARY) in message


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_composition_that_does_not_sum_is_one_line_error(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = atoms_to_graph([structure([29] * 4, 0)], cutoff=3.0)
    graph = graph.with_labels(structure={"composition": torch.tensor([[1, 1, 1, 0]])})
    with pytest.raises(ValueError, match="mobile atoms") as info:
        noiser.prior(graph, torch.Generator())
    one_line(info)
    logits = torch.zeros(4, K)
    with pytest.raises(ValueError, match="mobile atoms"):
        noiser.step(graph, logits, 0.5, 0.1, torch.Generator(), last=False)
    shape = graph.with_labels(structure={"composition": torch.tensor([[1, 1, 2]])})
    with pytest.raises(ValueError, match="shape") as info:
        noiser.prior(shape, torch.Generator())
    one_line(info)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((VOCABULARY, "gaussian"), {}, "kind"),
        (([],), {}, "empty"),
        (([0, 1],), {}, "1..118"),
        (([1, 119],), {}, "1..118"),
        (([8, 1],), {}, "increasing"),
        (([1, 1],), {}, "increasing"),
        (([1.5],), {}, "atomic number"),
        ((VOCABULARY,), {"schedule": "sqrt"}, "schedule"),
    ],
)
def test_bad_construction_is_one_line_config_error(args, kwargs, match):
    with pytest.raises(ConfigError, match=match) as info:
        TypeNoiser(*args, **kwargs)
    one_line(info)


# ----------------------------------------------------------- seeds and hparams


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_same_seed_same_result(kind):
    noiser = TypeNoiser(VOCABULARY, kind)
    graph = mixed_batch(2)
    runs = [reverse(noiser, graph, random_model(9), 10, 3).numbers for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    t = torch.full((graph.n_structures,), 0.5)
    a, b = (
        noiser.corrupt(graph, t, torch.Generator().manual_seed(5)).numbers
        for _ in range(2)
    )
    assert torch.equal(a, b)
    c = noiser.corrupt(graph, t, torch.Generator().manual_seed(6)).numbers
    assert not torch.equal(a, c)


def test_hparams_roundtrip():
    noiser = TypeNoiser([1, 6, 8], "uniform", schedule="cosine")
    data = noiser.hparams()
    assert data["field"] == "types"
    assert data["kind"] == "uniform"
    assert data["schedule"] == "cosine"
    rebuilt = TypeNoiser.from_hparams(data)
    assert rebuilt.hparams() == data
    assert rebuilt.vocabulary == noiser.vocabulary
    with pytest.raises(ConfigError, match="unknown"):
        TypeNoiser.from_hparams({**data, "beta": 3})
    with pytest.raises(ConfigError, match="field"):
        TypeNoiser.from_hparams({**data, "field": "positions"})


# ------------------------------------------------------------- reverse kernels


def test_uniform_step_follows_the_d3pm_posterior():
    # brute force: q(x_s | x_t, x0) by Bayes from the forward matrices
    noiser = TypeNoiser(VOCABULARY, "uniform")
    t, dt = 0.7, 0.3
    a_t, a_s = 1 - t, 1 - (t - dt)
    eye = torch.eye(K, dtype=torch.float64)
    q_t0 = a_t * eye + (1 - a_t) / K  # [x0, x_t]
    q_s0 = a_s * eye + (1 - a_s) / K  # [x0, x_s]
    q_ts = (a_t / a_s) * eye + (1 - a_t / a_s) / K  # [x_s, x_t]
    logits = torch.tensor([1.0, -0.5, 2.0, 0.0])
    p0 = torch.softmax(logits.double(), 0)
    now = 2  # every atom is Cu at time t
    posterior = q_s0 * q_ts[:, now][None, :] / q_t0[:, now][:, None]  # [x0, x_s]
    expected = (p0[:, None] * posterior).sum(0)
    assert torch.allclose(expected.sum(), torch.tensor(1.0, dtype=torch.float64))
    n = 20000
    graph = atoms_to_graph([structure([29] * n, 0, box=120.0)], cutoff=3.0)
    out = noiser.step(
        graph, logits.expand(n, K), t, dt, torch.Generator().manual_seed(0), last=False
    )
    hist = counts(out)[0].double() / n
    sigma = (expected * (1 - expected) / n).sqrt()
    assert ((hist - expected).abs() < 5 * sigma + 1e-9).all(), (hist, expected)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_absorbing_step_unmasks_at_the_posterior_rate(schedule):
    noiser = TypeNoiser(VOCABULARY, schedule=schedule)
    t, dt = 0.6, 0.2
    a_t, a_s = (float(noiser.alpha(torch.tensor(x))) for x in (t, t - dt))
    n = 20000
    graph = atoms_to_graph([structure([29] * n, 0, box=120.0)], cutoff=3.0)
    generator = torch.Generator().manual_seed(0)
    graph = noiser.prior(graph, generator)
    logits = torch.tensor([1.0, -0.5, 2.0, 0.0])
    out = noiser.step(graph, logits.expand(n, K), t, dt, generator, last=False)
    clean = out.numbers != MASK
    rate = (a_s - a_t) / (1 - a_t)
    assert abs(float(clean.double().mean()) - rate) < 5 * math.sqrt(rate / n)
    hist = counts(out, clean)[0].double() / clean.sum()
    expected = torch.softmax(logits.double(), 0)
    assert (hist - expected).abs().max() < 0.02


def test_step_rejects_a_structure_already_over_budget():
    noiser = TypeNoiser(VOCABULARY)
    graph = atoms_to_graph([structure([79, 79, 1], 0)], cutoff=3.0)
    graph = graph.with_labels(structure={"composition": torch.tensor([[2, 0, 0, 1]])})
    graph = graph.replace(numbers=torch.tensor([79, 79, MASK]))
    with pytest.raises(ConfigError, match="more atoms") as info:
        noiser.step(graph, torch.zeros(3, K), 0.5, 0.1, torch.Generator(), last=False)
    one_line(info)
