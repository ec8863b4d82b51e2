"""scatter_sum and layer_norm_silu: same derivatives as the plain ops, less saved."""

import pytest
import torch
from torch.nn import functional

import asegen.nn.norm
import asegen.nn.scatter
from asegen.nn import scatter_sum
from asegen.nn.norm import LEAN_MIN_ELEMENTS, layer_norm_silu


@pytest.fixture(autouse=True)
def lean_for_every_size(monkeypatch):
    """The tests check the lean path on small tensors: take it at any size."""
    for module in (asegen.nn.norm, asegen.nn.scatter):
        monkeypatch.setattr(module, "LEAN_MIN_ELEMENTS", 0)


def _reference_norm_silu(u, weight, bias):
    return functional.silu(functional.layer_norm(u, (u.shape[-1],), weight, bias))


def _reference_scatter(values, index, size):
    return values.new_zeros((size, *values.shape[1:])).index_add(0, index, values)


def _norm_inputs():
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_()
        for shape in ((7, 5), (5,), (5,))
    ]


def test_layer_norm_silu_first_and_second_derivatives():
    inputs = _norm_inputs()

    def fn(u, weight, bias):
        return layer_norm_silu(u, weight, bias, 1e-5)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize(
    ("fn", "reference", "inputs"),
    [
        (
            lambda u, w, b: layer_norm_silu(u, w, b, 1e-5),
            _reference_norm_silu,
            _norm_inputs,
        ),
        (
            lambda v: scatter_sum(v, torch.tensor([2, 0, 2, 1, 2]), 4),
            lambda v: _reference_scatter(v, torch.tensor([2, 0, 2, 1, 2]), 4),
            lambda: [torch.randn(5, 3, dtype=torch.float64).requires_grad_()],
        ),
    ],
    ids=["layer_norm_silu", "scatter_sum"],
)
def test_third_derivatives_match_the_plain_ops(fn, reference, inputs):
    """Force training differentiates twice; a third order checks the chain."""
    inputs = inputs()

    def third(function):
        out = function(*inputs)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        first = torch.autograd.grad(
            (weights * out.sin()).sum(), inputs, create_graph=True
        )
        second = torch.autograd.grad(
            sum((g**2).sum() for g in first), inputs, create_graph=True
        )
        return torch.autograd.grad(sum(g.sin().sum() for g in second), inputs)

    for got, want in zip(third(fn), third(reference), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_scatter_sum_gradcheck_with_empty_groups():
    values = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 0, 3, 3, 3, 1])

    def fn(v):
        return scatter_sum(v, index, 5)

    assert torch.autograd.gradcheck(fn, [values])
    assert torch.autograd.gradgradcheck(fn, [values])


def _saved_bytes(fn, *inputs):
    seen = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*inputs)
    return sum(seen.values())


def test_the_autograd_graph_keeps_less_than_the_plain_ops():
    u = torch.randn(1000, 64, requires_grad=True)
    weight, bias = (
        torch.ones(64, requires_grad=True),
        torch.zeros(64, requires_grad=True),
    )
    plain = _saved_bytes(lambda x: _reference_norm_silu(x, weight, bias) + 0, u)
    lean = _saved_bytes(lambda x: layer_norm_silu(x, weight, bias, 1e-5) + 0, u)
    assert lean <= plain - u.numel() * u.element_size()  # one (1000, 64) tensor less

    values = torch.randn(1000, 64, requires_grad=True)
    index = torch.randint(0, 10, (1000,))
    plain = _saved_bytes(lambda v: _reference_scatter(v * 2, index, 10), values)
    lean = _saved_bytes(lambda v: scatter_sum(v * 2, index, 10), values)
    assert lean <= plain - values.numel() * values.element_size()


@pytest.mark.parametrize("rows", [8, LEAN_MIN_ELEMENTS // 4])
def test_small_tensors_take_the_plain_ops_large_ones_the_lean(rows, monkeypatch):
    for module in (asegen.nn.norm, asegen.nn.scatter):  # the real threshold
        monkeypatch.setattr(module, "LEAN_MIN_ELEMENTS", LEAN_MIN_ELEMENTS)
    u = torch.randn(rows, 4, requires_grad=True)
    weight, bias = torch.ones(4), torch.zeros(4)
    norm = layer_norm_silu(u, weight, bias, 1e-5).grad_fn
    summed = scatter_sum(u * 2, torch.zeros(rows, dtype=torch.int64), 1).grad_fn
    lean = rows * 4 >= LEAN_MIN_ELEMENTS
    assert (type(norm).__name__ == "_LayerNormSiLUBackward") == lean
    assert (type(summed).__name__ == "_ScatterSumBackward") == lean
