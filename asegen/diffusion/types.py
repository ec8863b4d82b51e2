"""Atom types: discrete diffusion over the training elements (field ``"types"``).

The state of a mobile atom is one element of a fixed vocabulary, the sorted
atomic numbers seen in training; the score network's ``"types"`` head gives
``K = len(vocabulary)`` logits per atom, read as its prediction of the clean
element (the x₀ parametrisation of D3PM, Austin et al. 2021). Two forward
processes are offered:

``"absorbing"`` (default)
    A corrupted atom is masked: atomic number :data:`MASK` (0) in
    ``graph.numbers``. The prior at t = 1 is every mobile atom masked.
``"uniform"``
    A corrupted atom gets an element drawn uniformly from the vocabulary
    (possibly its own). The prior at t = 1 is uniform over the vocabulary.

**Schedule.** Time is continuous, t ∈ [0, 1]; an atom is still clean at time
t with probability α(t), independently of the others. ``"linear"`` (default)
is α(t) = 1 − t: the masking rate of MatterGen's D3PM, β_t = 1/(T − t + 1),
in the limit of many steps, and the schedule for which the continuous-time
ELBO weight below is simplest. ``"cosine"`` is α(t) = cos(πt/2), which keeps
more atoms clean at small t. Both give α(0) = 1 and α(1) = 0 exactly, so the
prior equals the forward marginal at t = 1 (the anchor's geometric schedule
masks only 95 % at t = 1).

**Loss.** Absorbing: the continuous-time ELBO of masked diffusion (Sahoo et
al. 2024; Shi et al. 2024), a cross-entropy on the masked mobile atoms with
weight w(t) = −α'(t)/(1 − α(t)) (1/t for the linear schedule), summed and
divided by the number of *mobile* atoms of the batch. A mobile atom is masked
with probability 1 − α(t), so the expected weight of an atom is
(1 − α)·w = −α', which integrates to 1 over t ∈ [0, 1]: the loss is the ELBO
per atom, of the size of one cross-entropy (log K for an untrained head).
Clean atoms carry no information to learn and add nothing. Uniform: a
plain cross-entropy on every mobile atom, averaged over them. Its minimiser
is the model's best x₀ posterior, which is all the reverse step needs; it is
the cross-entropy term of D3PM's hybrid loss, without the variational term,
which for uniform noise is costly and adds little.

**Reverse step** from t to s = t − Δt: the forward posterior q(x_s | x_t, x₀)
mixed over the predicted x₀ ~ softmax(logits). Absorbing: a masked atom
unmasks with probability (α(s) − α(t))/(1 − α(t)) to an element drawn from
the prediction; an unmasked atom stays. Uniform: the exact D3PM posterior.
The last step goes to s = 0: every masked atom unmasks, and the uniform
posterior is the prediction itself; draws are samples, not argmax.

**Exact composition.** With the structure label ``"composition"`` (``(S, K)``
integers: how many mobile atoms of each vocabulary element each structure
must end with), absorbing unmasking draws only elements whose budget
(requested minus already unmasked) is left; the atoms unmasking in one step
draw in rounds (see :func:`_draw_within_budget`). The last step, and for
``"uniform"`` the last step only, assigns the atoms by an optimal assignment
(maximum total log-probability, budgets as capacities). The composition
of the sample is then the requested one by construction. An optional
structure label ``"types_allowed"`` (``(S, K)`` bool) restricts the
elements the predictions may give.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from ase.data import chemical_symbols
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from asegen.diffusion.noiser import Noiser, mobile
from asegen.errors import ConfigError, StructureError
from asegen.graph import AtomsGraph

__all__ = ["COMPOSITION", "KINDS", "MASK", "SCHEDULES", "TYPES_ALLOWED", "TypeNoiser"]

#: Atomic number of a masked atom (absorbing kind).
MASK = 0
#: The forward processes offered.
KINDS = ("absorbing", "uniform")
#: The schedules α(t) offered.
SCHEDULES = ("linear", "cosine")
#: Structure label: ``(S, K)`` integer counts of mobile atoms per element.
COMPOSITION = "composition"
#: Structure label: ``(S, K)`` bool, the elements a structure may contain.
TYPES_ALLOWED = "types_allowed"

_TARGET = "types_target"
_WEIGHT = "types_weight"
_MAX_Z = 118
_T_MIN = 1e-6  # the ELBO weight is evaluated no closer to t = 0
_LOGP_FLOOR = -1e6  # finite stand-in for log 0 in draws and assignments


class TypeNoiser(Noiser):
    """Discrete diffusion of the element of every mobile atom.

    Parameters
    ----------
    vocabulary
        The atomic numbers of the training elements, strictly increasing;
        the ``"types"`` head outputs one logit per element in this order.
    kind
        ``"absorbing"`` (corrupted atoms are masked, atomic number 0) or
        ``"uniform"`` (corrupted atoms get a uniformly drawn element).
    schedule
        ``"linear"`` (α(t) = 1 − t) or ``"cosine"`` (α(t) = cos(πt/2)),
        the probability that an atom is still clean at time t.

    Raises
    ------
    ConfigError
        An unknown kind or schedule, an empty vocabulary, or one that is not
        strictly increasing atomic numbers in 1..118.
    """

    field: ClassVar[str] = "types"

    def __init__(
        self,
        vocabulary: Sequence[int],
        kind: str = "absorbing",
        *,
        schedule: str = "linear",
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown type noiser kind {kind!r}; use one of {KINDS}")
        if schedule not in SCHEDULES:
            raise ConfigError(
                f"unknown type schedule {schedule!r}; use one of {SCHEDULES}"
            )
        zs = [_atomic_number(z) for z in vocabulary]
        if not zs:
            raise ConfigError(
                "the type vocabulary is empty; list the training elements"
            )
        if any(b <= a for a, b in itertools.pairwise(zs)):
            raise ConfigError(
                f"the type vocabulary {zs} must be strictly increasing atomic numbers"
            )
        self.kind = kind
        self.schedule = schedule
        self.vocabulary: tuple[int, ...] = tuple(zs)
        self._numbers = torch.tensor(zs, dtype=torch.int64)  # (K,) index -> Z
        self._index = torch.full((_MAX_Z + 1,), -1, dtype=torch.int64)  # Z -> index
        self._index[self._numbers] = torch.arange(len(zs))

    @property
    def n_types(self) -> int:
        """Number ``K`` of elements, the width of the ``"types"`` head."""
        return len(self.vocabulary)

    def __repr__(self) -> str:
        return (
            f"TypeNoiser(vocabulary={list(self.vocabulary)}, kind={self.kind!r}, "
            f"schedule={self.schedule!r})"
        )

    # ------------------------------------------------------------------ schedule

    def alpha(self, t: Tensor) -> Tensor:
        """Return α(t), the probability that an atom is still clean at ``t``."""
        t = t.clamp(0.0, 1.0)
        if self.schedule == "linear":
            return 1.0 - t
        return torch.where(t >= 1.0, 0.0, torch.cos(0.5 * math.pi * t))

    def elbo_weight(self, t: Tensor) -> Tensor:
        """Return −α'(t)/(1 − α(t)), the ELBO weight of a masked atom at ``t``."""
        t = t.clamp(_T_MIN, 1.0)
        if self.schedule == "linear":
            return 1.0 / t
        half = 0.5 * math.pi * t
        return 0.5 * math.pi * torch.sin(half) / (1.0 - torch.cos(half))

    # ------------------------------------------------------------------ contract

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Noise the types of mobile atoms to times ``t`` (``(S,)``).

        Each mobile atom keeps its element with probability α(t) of its
        structure and is masked (absorbing) or redrawn (uniform) otherwise.
        Attaches the atom labels ``"types_target"`` (int64 vocabulary index
        of the clean element; -1 on fixed atoms outside the vocabulary) and
        ``"types_weight"`` (the loss weight of each atom).

        Raises
        ------
        StructureError
            A mobile atom's element is not in the vocabulary.
        """
        device = graph.numbers.device
        if t.shape != (graph.n_structures,):
            raise ValueError(
                f"corrupt needs one time per structure, shape ({graph.n_structures},);"
                f" got {tuple(t.shape)}"
            )
        movable = mobile(graph)
        target = self._indices(graph.numbers, movable)  # (N,)
        t_atom = t.to(device=device, dtype=graph.positions.dtype)[graph.batch]  # (N,)
        draw = torch.rand(t_atom.shape, generator=generator, device=generator.device)
        draw = draw.to(device)
        hit = movable & (draw >= self.alpha(t_atom))  # corrupted atoms
        numbers = graph.numbers.clone()
        if self.kind == "absorbing":
            numbers[hit] = MASK
            weight = torch.where(hit, self.elbo_weight(t_atom), 0.0)
        else:
            pick = torch.randint(
                self.n_types, t_atom.shape, generator=generator, device=generator.device
            ).to(device)
            numbers[hit] = self._numbers.to(device)[pick[hit]]
            weight = movable.to(t_atom.dtype)
        return graph.replace(numbers=numbers).with_labels(
            atom={_TARGET: target, _WEIGHT: weight}
        )

    def loss(self, output: Tensor, graph: AtomsGraph) -> Tensor:
        """Return the weighted cross-entropy of the ``(N, K)`` logits ``output``.

        The sum over mobile atoms of weight × cross-entropy, divided by the
        number of mobile atoms (see the module docstring); a differentiable
        zero when the batch has none.
        """
        n_atoms = graph.numbers.shape[0]
        if output.shape != (n_atoms, self.n_types):
            raise ValueError(
                f"the types head gave shape {tuple(output.shape)}; the noiser needs "
                f"({n_atoms}, {self.n_types}), one logit per vocabulary element"
            )
        target = graph.atom_labels[_TARGET]
        counted = mobile(graph) & (target >= 0)  # (N,)
        n_counted = int(counted.sum())
        if n_counted == 0:
            return output.sum() * 0.0
        entropy = F.cross_entropy(output[counted], target[counted], reduction="none")
        weight = graph.atom_labels[_WEIGHT][counted].to(entropy.dtype)
        return (entropy * weight).sum() / n_counted

    def prior(self, graph: AtomsGraph, generator: torch.Generator) -> AtomsGraph:
        """Draw every mobile atom's type from the prior (the t = 1 marginal).

        Absorbing: masked. Uniform: a uniform element; with the structure
        label ``"composition"``, a random permutation of the requested
        elements instead. ``"types_allowed"`` leaves the prior as trained
        (uniform over the whole vocabulary); it restricts the predictions in
        :meth:`step`, so only the sample's final elements obey it.
        """
        movable = mobile(graph)
        composition = self._composition(graph)
        self._allowed(graph, composition)
        numbers = graph.numbers.clone()
        device = numbers.device
        vocabulary = self._numbers.to(device)
        if self.kind == "absorbing":
            numbers[movable] = MASK
        elif composition is None:
            pick = torch.randint(
                self.n_types,
                numbers.shape,
                generator=generator,
                device=generator.device,
            ).to(device)
            numbers[movable] = vocabulary[pick[movable]]
        else:
            # the requested multiset, grouped by structure like the mobile atoms
            wanted = torch.arange(self.n_types, device=device).repeat(
                graph.n_structures
            )
            wanted = torch.repeat_interleave(wanted, composition.reshape(-1))
            owner = graph.batch[movable]
            key = owner.to(torch.float64) + torch.rand(
                owner.shape,
                generator=generator,
                device=generator.device,
                dtype=torch.float64,
            ).to(device)
            numbers[movable] = vocabulary[wanted[torch.argsort(key)]]
        return graph.replace(numbers=numbers)

    def step(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        dt: float,
        generator: torch.Generator,
        *,
        last: bool,
    ) -> AtomsGraph:
        """Move the types from ``t`` to ``t - dt`` with the predicted x₀.

        ``output`` are the ``(N, K)`` logits of the ``"types"`` head. On the
        ``last`` step the target time is 0: no atom stays masked, and with a
        ``"composition"`` label the atoms are assigned to match it exactly.
        """
        movable = mobile(graph)
        composition = self._composition(graph)
        allowed = self._allowed(graph, composition)
        logp = output.detach()
        if allowed is not None:
            logp = logp.masked_fill(~allowed[graph.batch], -math.inf)
        logp = torch.log_softmax(logp, dim=-1).clamp_min(_LOGP_FLOOR)  # (N, K)
        s = 0.0 if last else max(t - dt, 0.0)
        a_t, a_s = (
            float(self.alpha(torch.tensor(x, dtype=torch.float64))) for x in (t, s)
        )
        if self.kind == "absorbing":
            index = self._absorbing_step(
                graph, logp, movable, a_t, a_s, composition, generator, last=last
            )
        else:
            index = self._uniform_step(
                graph, logp, movable, a_t, a_s, composition, generator, last=last
            )
        numbers = graph.numbers.clone()
        changed = index >= 0
        numbers[changed] = self._numbers.to(numbers.device)[index[changed]]
        return graph.replace(numbers=numbers)

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which :meth:`from_hparams` rebuilds the noiser."""
        return {
            "field": self.field,
            "kind": self.kind,
            "vocabulary": list(self.vocabulary),
            "schedule": self.schedule,
        }

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> TypeNoiser:
        """Rebuild a noiser from :meth:`hparams` output.

        Raises
        ------
        ConfigError
            The data names another field or holds unknown keys.
        """
        data = dict(hparams)
        field = data.pop("field", cls.field)
        if field != cls.field:
            raise ConfigError(f"hparams of field {field!r} given to the types noiser")
        unknown = sorted(set(data) - {"kind", "vocabulary", "schedule"})
        if unknown:
            raise ConfigError(
                f"unknown types noiser keys {unknown}; use kind, vocabulary, schedule"
            )
        if "vocabulary" not in data:
            raise ConfigError("types noiser hparams lack the 'vocabulary' list")
        vocabulary = data.pop("vocabulary")
        return cls(vocabulary, **data)

    # ------------------------------------------------------------------ steps

    def _absorbing_step(
        self,
        graph: AtomsGraph,
        logp: Tensor,
        movable: Tensor,
        a_t: float,
        a_s: float,
        composition: Tensor | None,
        generator: torch.Generator,
        *,
        last: bool,
    ) -> Tensor:
        """Return the new vocabulary index of each atom (-1: unchanged)."""
        device = logp.device
        masked = movable & (graph.numbers == MASK)  # (N,)
        chance = 1.0 if last or a_t >= 1.0 else (a_s - a_t) / (1.0 - a_t)
        draw = torch.rand(masked.shape, generator=generator, device=generator.device)
        draw = draw.to(device)
        unmask = masked & (draw < chance)
        index = torch.full_like(graph.numbers, -1)
        if composition is None:
            index[unmask] = _gumbel_argmax(logp[unmask], generator)
            return index
        clean = movable & ~masked
        owner = graph.batch[clean]
        used = torch.zeros_like(composition)
        used.index_put_(
            (owner, self._indices(graph.numbers[clean], None)),
            torch.ones_like(owner),
            accumulate=True,
        )
        budget = composition - used  # (S, K)
        if bool((budget < 0).any()):
            s = int((budget < 0).any(dim=1).nonzero()[0, 0])
            raise ConfigError(
                f"structure {s} already holds more atoms of some element than its "
                "'composition' label requests; fix the label or the structure"
            )
        if last:
            index[unmask] = _assign(logp[unmask], graph.batch[unmask], budget)
        else:
            index[unmask] = _draw_within_budget(
                logp[unmask], graph.batch[unmask], budget, generator
            )
        return index

    def _uniform_step(
        self,
        graph: AtomsGraph,
        logp: Tensor,
        movable: Tensor,
        a_t: float,
        a_s: float,
        composition: Tensor | None,
        generator: torch.Generator,
        *,
        last: bool,
    ) -> Tensor:
        """Return the new vocabulary index of each atom (-1: unchanged)."""
        index = torch.full_like(graph.numbers, -1)
        logp_m = logp[movable]  # (M, K)
        if last:
            if composition is None:
                index[movable] = _gumbel_argmax(logp_m, generator)
            else:
                index[movable] = _assign(logp_m, graph.batch[movable], composition)
            return index
        k = self.n_types
        now = F.one_hot(self._indices(graph.numbers[movable], None), k)  # (M, K)
        now = now.to(logp_m.dtype)
        a_ts = a_t / a_s if a_s > 0 else 0.0  # α(t|s): kept from s to t
        # q(x_t = now | x_s = j) and q(x_t = now | x0), both (M, K)
        forward = a_ts * now + (1.0 - a_ts) / k
        evidence = (a_t * now + (1.0 - a_t) / k).clamp_min(1e-30)
        ratio = logp_m.exp() / evidence  # p(x0) / q(x_t | x0)
        # sum over x0 of ratio[x0] * q(x_s = j | x0)
        mixed = a_s * ratio + (1.0 - a_s) / k * ratio.sum(dim=-1, keepdim=True)
        probs = forward * mixed  # (M, K), unnormalised posterior over x_s
        logq = torch.where(probs > 0, probs.clamp_min(1e-300).log(), -math.inf)
        index[movable] = _gumbel_argmax(logq, generator)
        return index

    # ------------------------------------------------------------------ checks

    def _indices(self, numbers: Tensor, where: Tensor | None) -> Tensor:
        """Return vocabulary indices of ``numbers``.

        Every atom (``where`` None) or every atom selected by ``where`` must
        be in the vocabulary; others get -1.
        """
        inside = (numbers >= 0) & (numbers <= _MAX_Z)
        index = torch.full_like(numbers, -1)
        index[inside] = self._index.to(numbers.device)[numbers[inside]]
        bad = index < 0 if where is None else (index < 0) & where
        if bool(bad.any()):
            z = int(numbers[bad][0])
            name = chemical_symbols[z] if 0 <= z <= _MAX_Z else "?"
            raise StructureError(
                f"element {name} (Z = {z}) is not in the type vocabulary "
                f"{list(self.vocabulary)}; train on data that contains it "
                "or leave it out"
            )
        return index

    def _composition(self, graph: AtomsGraph) -> Tensor | None:
        """Return the validated ``(S, K)`` int64 composition label, if any."""
        value = graph.structure_labels.get(COMPOSITION)
        if value is None:
            return None
        shape = (graph.n_structures, self.n_types)
        if value.shape != shape or value.is_floating_point() or value.is_complex():
            raise ConfigError(
                f"the 'composition' label must be integers of shape {shape} "
                f"(structures × vocabulary {list(self.vocabulary)}); got "
                f"{value.dtype} {tuple(value.shape)}"
            )
        value = value.to(torch.int64)
        if bool((value < 0).any()):
            raise ConfigError("the 'composition' label has negative counts")
        n_mobile = torch.zeros_like(graph.n_atoms).index_add_(
            0, graph.batch, mobile(graph).to(torch.int64)
        )
        wrong = value.sum(dim=1) != n_mobile
        if bool(wrong.any()):
            s = int(wrong.nonzero()[0, 0])
            raise ConfigError(
                f"the 'composition' of structure {s} counts {int(value[s].sum())} "
                f"atoms but it has {int(n_mobile[s])} mobile atoms; they must be equal"
            )
        return value

    def _allowed(self, graph: AtomsGraph, composition: Tensor | None) -> Tensor | None:
        """Return the validated ``(S, K)`` bool ``"types_allowed"`` label, if any."""
        value = graph.structure_labels.get(TYPES_ALLOWED)
        if value is None:
            return None
        shape = (graph.n_structures, self.n_types)
        if value.shape != shape or value.dtype != torch.bool:
            raise ConfigError(
                f"the 'types_allowed' label must be bool of shape {shape}; got "
                f"{value.dtype} {tuple(value.shape)}"
            )
        has_mobile = torch.zeros_like(value[:, 0]).index_fill_(
            0, graph.batch[mobile(graph)], True
        )
        if bool((has_mobile & ~value.any(dim=1)).any()):
            raise ConfigError("'types_allowed' allows no element for some structure")
        if composition is not None and bool(((composition > 0) & ~value).any()):
            raise ConfigError(
                "the 'composition' label requests an element that 'types_allowed' "
                "forbids"
            )
        return value


def _atomic_number(z: Any) -> int:
    """Return ``z`` as an atomic number in 1..118, or raise a ConfigError."""
    if isinstance(z, bool) or not isinstance(z, (int, np.integer)):
        raise ConfigError(f"type vocabulary entry {z!r} is not an atomic number")
    if not 1 <= int(z) <= _MAX_Z:
        raise ConfigError(
            f"type vocabulary entry {int(z)} is not an atomic number in 1..{_MAX_Z}"
        )
    return int(z)


def _gumbel_argmax(logp: Tensor, generator: torch.Generator) -> Tensor:
    """Draw one category per row of the ``(M, K)`` log-weights ``logp``."""
    u = torch.rand(logp.shape, generator=generator, device=generator.device)
    u = u.to(logp.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
    return torch.argmax(logp + gumbel.to(logp.dtype), dim=-1)


def _random_rank(key: Tensor, generator: torch.Generator) -> Tensor:
    """Return each entry's rank, in random order, among entries of equal ``key``."""
    n = key.shape[0]
    perm = torch.randperm(n, generator=generator, device=generator.device)
    perm = perm.to(key.device)
    sorted_key, order = torch.sort(key[perm], stable=True)
    order = perm[order]
    start = torch.searchsorted(sorted_key, sorted_key)  # first of each group
    rank = torch.empty_like(key)
    rank[order] = torch.arange(n, device=key.device) - start
    return rank


def _draw_within_budget(
    logp: Tensor, owner: Tensor, budget: Tensor, generator: torch.Generator
) -> Tensor:
    """Draw an element for each atom without exceeding its structure's budget.

    Parameters
    ----------
    logp
        ``(M, K)`` log-probabilities of the atoms that unmask now.
    owner
        ``(M,)`` structure of each atom.
    budget
        ``(S, K)`` atoms of each element still to place in each structure;
        its rows sum to at least the atoms of that structure in ``logp``.

    Returns
    -------
    Tensor
        ``(M,)`` vocabulary indices.

    Notes
    -----
    All pending atoms draw at once from their prediction restricted to the
    elements with budget left. Where a structure drew an element more often
    than its budget allows, a random subset of that size is accepted and the
    rest draw again in the next round from what is left. Every round accepts
    at least one atom of each drawn (structure, element) and any rejection
    exhausts one, so there are at most K + 1 rounds, each vectorised over all
    structures and atoms; a one-at-a-time loop would cost one round per atom.
    """
    k = logp.shape[1]
    budget = budget.clone()
    choice = torch.full_like(owner, -1)
    pending = torch.arange(owner.shape[0], device=owner.device)
    while pending.numel():
        who = owner[pending]
        room = budget[who] > 0  # (P, K)
        draw = _gumbel_argmax(logp[pending].masked_fill(~room, -math.inf), generator)
        key = who * k + draw
        accept = _random_rank(key, generator) < budget[who, draw]
        choice[pending[accept]] = draw[accept]
        budget.view(-1).index_add_(0, key[accept], -torch.ones_like(key[accept]))
        pending = pending[~accept]
    return choice


def _assign(logp: Tensor, owner: Tensor, budget: Tensor) -> Tensor:
    """Assign elements maximising the total log-probability, budgets as capacities.

    ``logp`` is ``(M, K)``, ``owner`` the ``(M,)`` structure of each atom and
    ``budget`` ``(S, K)`` with rows summing to each structure's atom count.
    Each structure is solved exactly by the Hungarian method
    (:func:`scipy.optimize.linear_sum_assignment`) on an ``(n, n)`` cost
    matrix whose columns are the element slots, element k repeated
    ``budget[s, k]`` times. Returns the ``(M,)`` vocabulary indices.
    """
    choice = torch.empty_like(owner)
    if owner.numel() == 0:
        return choice
    order = torch.argsort(owner, stable=True)
    counts = torch.bincount(owner, minlength=budget.shape[0]).tolist()
    cost_all = (-logp[order]).to(torch.float64).cpu().numpy()
    slots_all = budget.cpu().numpy()
    start = 0
    picked = np.empty(owner.shape[0], dtype=np.int64)
    for s, n in enumerate(counts):
        if n == 0:
            continue
        slots = np.repeat(np.arange(budget.shape[1]), slots_all[s])  # (n,)
        if len(slots) != n:
            raise ConfigError(
                f"structure {s} has {n} atoms to type but its budget holds "
                f"{len(slots)}; the 'composition' label does not fit"
            )
        rows, cols = linear_sum_assignment(cost_all[start : start + n][:, slots])
        picked[start + rows] = slots[cols]
        start += n
    choice[order] = torch.from_numpy(picked).to(owner.device)
    return choice
