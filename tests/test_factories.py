"""Making tensors, dtypes and type promotion, conversions: each a scenario run under torch
and under refgrad (see tests/differential.py), which must observe the same values, dtypes,
shapes, flags and errors.

Random factories are the exception: refgrad draws from NumPy's generator, so for them the
scenarios compare what torch promises (shape, dtype, range, reproducibility), not values.
"""

from __future__ import annotations

import itertools
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import refgrad
from tests.differential import Scenario, check

SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str) -> None:
    check(SCENARIOS[name])


# -- torch.tensor and friends: dtype inference -------------------------------------------------


@scenario
def tensor_infers_dtype_from_python_data(t: ModuleType) -> Any:
    # any float -> the default float dtype; else any int -> int64; else bool
    return [
        t.tensor([1.0, 2.0]),
        t.tensor([1, 2]),
        t.tensor([True, False]),
        t.tensor([1, 2.5]),
        t.tensor([True, 2]),
        t.tensor([[1, 2], [3, 4.0]]),
        t.tensor(3.5),
        t.tensor(7),
        t.tensor(False),
        t.tensor([]),
        t.tensor([[], []]),
    ]


@scenario
def tensor_with_explicit_dtype(t: ModuleType) -> Any:
    return [
        t.tensor([1.7, -2.2], dtype=t.int64),
        t.tensor([1, 0, 2], dtype=t.bool),
        t.tensor([1, 2], dtype=t.float64),
        t.tensor([0.1], dtype=t.float16),
        t.tensor([200], dtype=t.uint8),
    ]


@scenario
def tensor_from_numpy_arrays_keeps_their_dtype(t: ModuleType) -> Any:
    arrays = [np.array([1.5, 2.5]), np.array([1, 2], dtype=np.int32), np.array([True])]
    arrays += [np.float32(2.5) * np.ones(2, np.float32), np.arange(6).reshape(2, 3)]
    return [t.tensor(a) for a in arrays] + [t.tensor(np.array([1.5]), dtype=t.float32)]


@scenario
def tensor_from_numpy_scalars_and_tensors_keeps_their_dtypes(t: ModuleType) -> Any:
    # Unlike Python numbers: np.float64(1.5) is float64, not the default float32.
    return [
        t.tensor(np.float64(1.5)),
        t.tensor([np.float64(1.5)]),
        t.tensor([np.float32(1.5), 2]),
        t.tensor([np.int32(3), np.int32(4)]),
        t.tensor([1, np.int32(2)]),
        t.tensor([t.tensor(1.5, dtype=t.float64), 2.0]),
        t.tensor((1, 2.0)),
        t.tensor(range(3)),
    ]


@scenario
def tensor_of_none(t: ModuleType) -> Any:
    return t.tensor(None)


@scenario
def tensor_of_a_list_with_a_string(t: ModuleType) -> Any:
    return t.tensor([1, "a"])


@scenario
def tensor_of_a_scalar_where_a_list_should_be(t: ModuleType) -> Any:
    return t.tensor([[1.0, 2.0], 3.0])


@scenario
def tensor_of_a_list_where_a_scalar_should_be(t: ModuleType) -> Any:
    return t.tensor([1.0, [2.0]])


@scenario
def tensor_of_a_numpy_array_of_strings(t: ModuleType) -> Any:
    return t.tensor(np.array(["a"]))


@scenario
def tensor_copies_its_data(t: ModuleType) -> Any:
    array = np.array([1.0, 2.0])
    x = t.tensor(array)
    array[0] = 100.0
    return x


@scenario
def tensor_requires_grad(t: ModuleType) -> Any:
    return [t.tensor([1.0], requires_grad=True), t.tensor(2.0, dtype=t.float64, requires_grad=True)]


@scenario
def tensor_of_ints_cannot_require_grad(t: ModuleType) -> Any:
    return t.tensor([1, 2], requires_grad=True)


@scenario
def tensor_of_a_tensor_copies_and_warns(t: ModuleType) -> Any:
    x = t.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = t.tensor(x)
    return [y, y.requires_grad, [str(w.message) for w in caught]]


@scenario
def tensor_of_ragged_lists(t: ModuleType) -> Any:
    return t.tensor([[1.0, 2.0], [3.0]])


@scenario
def tensor_of_a_string(t: ModuleType) -> Any:
    return t.tensor("1.0")


@scenario
def as_tensor_returns_the_tensor_itself(t: ModuleType) -> Any:
    x = t.tensor([1.0, 2.0])
    same, same_dtype = t.as_tensor(x) is x, t.as_tensor(x, dtype=t.float32) is x
    return [same, same_dtype, t.as_tensor(x, dtype=t.int64)]


@scenario
def as_tensor_takes_dtype_by_keyword_only(t: ModuleType) -> Any:
    return t.as_tensor([1.0], t.float64)


@scenario
def as_tensor_shares_numpy_memory(t: ModuleType) -> Any:
    array = np.array([1.0, 2.0])
    shared, converted = t.as_tensor(array), t.as_tensor(array, dtype=t.float32)
    array[0] = 100.0
    return [shared, converted, t.as_tensor([1, 2]), t.as_tensor(3.0)]


@scenario
def from_numpy_shares_memory_both_ways(t: ModuleType) -> Any:
    array = np.zeros(3, dtype=np.float32)
    x = t.from_numpy(array)
    array[0] = 1.0
    x[1] = 2.0
    return [x, array.tolist(), x.dtype]


@scenario
def from_numpy_rejects_unsupported_dtypes(t: ModuleType) -> Any:
    return t.from_numpy(np.array(["a"]))


# -- filled factories ------------------------------------------------------------------------------


@scenario
def zeros_and_ones(t: ModuleType) -> Any:
    return [
        t.zeros(2, 3),
        t.zeros((2, 3)),
        t.zeros([4]),
        t.zeros(()),
        t.zeros(0),
        t.ones(2, dtype=t.int64),
        t.ones(t.Size([2, 1])),
        t.ones(2, 2, dtype=t.bool),
        t.zeros(2, requires_grad=True),
        t.ones(3, dtype=t.float64, requires_grad=True),
    ]


@scenario
def zeros_of_ints_cannot_require_grad(t: ModuleType) -> Any:
    return t.zeros(2, dtype=t.long, requires_grad=True)


@scenario
def full_infers_its_dtype_from_the_fill_value(t: ModuleType) -> Any:
    return [
        t.full((2,), 1.5),
        t.full((2, 2), 3),
        t.full((1,), True),
        t.full((2,), 7, dtype=t.float64),
        t.full([3], -1.0, requires_grad=True),
    ]


@scenario
def empty_has_shape_and_dtype(t: ModuleType) -> Any:
    # Values of empty() are whatever memory held: only metadata is compared.
    x, y = t.empty(2, 3), t.empty((4,), dtype=t.int32, requires_grad=False)
    z = t.empty(2, requires_grad=True)
    return [(x.shape, x.dtype), (y.shape, y.dtype), (z.shape, z.requires_grad, z.is_leaf)]


@scenario
def like_factories(t: ModuleType) -> Any:
    x = t.tensor([[1.5, 2.5]], dtype=t.float64, requires_grad=True)
    i = t.tensor([1, 2])
    return [
        t.zeros_like(x),
        t.ones_like(x),
        t.full_like(x, 7),
        t.full_like(i, 2.7),
        t.zeros_like(x, dtype=t.int32),
        t.ones_like(i, dtype=t.float32, requires_grad=True),
        (t.empty_like(x).shape, t.empty_like(x).dtype, t.empty_like(x).requires_grad),
    ]


@scenario
def new_factories_take_self_dtype(t: ModuleType) -> Any:
    x = t.tensor([1.0, 2.0], dtype=t.float64, requires_grad=True)
    i = t.tensor([1, 2])
    return [
        x.new_zeros(2, 3),
        x.new_ones((2,)),
        x.new_full((2,), 5),
        x.new_zeros(2, dtype=t.int64),
        x.new_ones(1, requires_grad=True),
        x.new_tensor([1, 2]),
        i.new_tensor([1.5]),
        i.new_ones(2),
        (x.new_empty(3).shape, x.new_empty(3).dtype),
    ]


# -- ranges ---------------------------------------------------------------------------------


@scenario
def arange_dtypes_and_lengths(t: ModuleType) -> Any:
    return [
        t.arange(5),
        t.arange(2, 7),
        t.arange(1, 10, 3),
        t.arange(5, 0, -2),
        t.arange(5.0),
        t.arange(0, 1, 0.1),
        t.arange(1, 2.05, 0.35),
        t.arange(1, 2.05, 0.35, dtype=t.float16),
        t.arange(0.5, 2.5, 0.5),
        t.arange(-1, 1, 0.25, dtype=t.float64),
        t.arange(3, dtype=t.float32),
        t.arange(0),
        t.arange(3.0, requires_grad=True),
    ]


@scenario
def arange_zero_step(t: ModuleType) -> Any:
    return t.arange(0, 5, 0)


@scenario
def arange_step_of_the_wrong_sign(t: ModuleType) -> Any:
    return t.arange(0, 5, -1)


@scenario
def arange_of_ints_cannot_require_grad(t: ModuleType) -> Any:
    return t.arange(3, requires_grad=True)


@scenario
def linspace(t: ModuleType) -> Any:
    return [
        t.linspace(0, 1, 5),
        t.linspace(-1, 1, 4),
        t.linspace(2, 2, 3),
        t.linspace(0, 1, 1),
        t.linspace(0, 1, 0),
        t.linspace(0, 10, 7, dtype=t.float64),
        t.linspace(1, 0, 3, requires_grad=True),
    ]


@scenario
def eye(t: ModuleType) -> Any:
    return [t.eye(3), t.eye(2, 3), t.eye(3, 1), t.eye(2, dtype=t.int64), t.eye(0)]


# -- random factories: shape, dtype, range, reproducibility -------------------------------------


def _summary(x: Any) -> Any:
    return (tuple(x.shape), str(x.dtype), x.requires_grad, x.is_leaf)


@scenario
def random_factories_shapes_and_dtypes(t: ModuleType) -> Any:
    base = t.zeros(2, 3, dtype=t.float64)
    return [
        _summary(t.rand(2, 3)),
        _summary(t.rand((4,), dtype=t.float64)),
        _summary(t.randn(3)),
        _summary(t.randn(2, 2, requires_grad=True)),
        _summary(t.randint(5, (3,))),
        _summary(t.randint(2, 9, (2, 2))),
        _summary(t.randint(0, 2, (3,), dtype=t.float32)),
        _summary(t.randperm(4)),
        _summary(t.rand_like(base)),
        _summary(t.randn_like(base, dtype=t.float32)),
    ]


@scenario
def random_values_stay_in_their_ranges(t: ModuleType) -> Any:
    t.manual_seed(0)
    u, n, i = t.rand(10_000), t.randn(10_000), t.randint(3, 7, (10_000,))
    return [
        ((u >= 0) & (u < 1)).sum().item() == u.numel(),
        abs(n.mean().item()) < 0.05,
        abs(n.std().item() - 1) < 0.05,
        sorted(set(i.tolist())),
        sorted(t.randperm(5).tolist()),
    ]


@scenario
def manual_seed_makes_draws_repeat(t: ModuleType) -> Any:
    t.manual_seed(1234)
    first = [t.rand(3), t.randn(2), t.randint(10, (3,))]
    t.manual_seed(1234)
    again = [t.rand(3), t.randn(2), t.randint(10, (3,))]
    return [a.tolist() == b.tolist() for a, b in zip(first, again, strict=True)]


@scenario
def in_place_random_fills_keep_shape_dtype_and_version(t: ModuleType) -> Any:
    x = t.zeros(3, 2, dtype=t.float64)
    y = x.normal_()
    z = t.zeros(4).uniform_(2.0, 3.0)
    return [y is x, _summary(x), x._version, bool(((z >= 2) & (z < 3)).sum() == 4)]


# -- dtypes ---------------------------------------------------------------------------------


@scenario
def dtype_aliases(t: ModuleType) -> Any:
    return [
        t.float is t.float32,
        t.double is t.float64,
        t.half is t.float16,
        t.long is t.int64,
        t.int is t.int32,
        t.short is t.int16,
        t.tensor([1.0], dtype=t.double).dtype,
        t.zeros(1, dtype=t.long).dtype,
    ]


@scenario
def dtype_properties(t: ModuleType) -> Any:
    dtypes = [t.float16, t.float32, t.float64, t.uint8, t.int8, t.int16, t.int32, t.int64, t.bool]
    return [(repr(d), str(d), d.is_floating_point, d.is_signed, d.itemsize) for d in dtypes]


@scenario
def default_dtype_can_be_changed(t: ModuleType) -> Any:
    before = t.get_default_dtype()
    t.set_default_dtype(t.float64)
    try:
        made = [t.tensor([1.5]), t.zeros(1), t.arange(1.0), t.tensor([1]) / 2, t.tensor([1]) * 0.5]
    finally:
        t.set_default_dtype(before)
    return [before, *made, t.tensor([1.5])]


@scenario
def default_dtype_must_be_floating(t: ModuleType) -> Any:
    t.set_default_dtype(t.int64)


DTYPE_NAMES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(DTYPE_NAMES, repeat=2)))
def test_promote_types(a: str, b: str) -> None:
    expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
    actual = refgrad.promote_types(getattr(refgrad, a), getattr(refgrad, b))
    assert str(actual) == str(expected)


# -- type promotion in operations: tensors with dims, 0-dim tensors, Python numbers -------------

# Operands in three tiers. A lower tier only raises the result's category (bool < integer <
# float), never its width: float32 + float64 0-dim stays float32, int8 + 1000 stays int8.
OPERANDS: dict[str, Any] = {
    **{f"{d}[2]": (lambda t, d=d: t.tensor([1, 0], dtype=getattr(t, d))) for d in DTYPE_NAMES},
    **{f"{d}[]": (lambda t, d=d: t.tensor(3, dtype=getattr(t, d))) for d in DTYPE_NAMES},
    "True": lambda t: True,
    "7": lambda t: 7,
    "2.5": lambda t: 2.5,
}
PAIRS = [
    (a, b)
    for a, b in itertools.product(OPERANDS, repeat=2)
    if "[" in a or "[" in b  # at least one tensor
]


@pytest.mark.parametrize(("left", "right"), PAIRS)
def test_promotion_in_binary_operations(left: str, right: str) -> None:
    """dtype and value of +, *, /, <, == and logical_and for every pair of operand kinds."""

    def scenario(t: ModuleType) -> Any:
        a, b = OPERANDS[left](t), OPERANDS[right](t)
        results = []
        for op in (
            lambda: a + b,
            lambda: a * b,
            lambda: a / b,
            lambda: a < b,
            lambda: a == b,
            lambda: t.logical_and(a, b),  # a Python number is refused here (Tensor only)
            lambda: t.add(a, b),
        ):
            try:
                results.append(op())
            except Exception as error:
                results.append(("raises", type(error).__name__, str(error)))
        return results

    check(scenario)


@scenario
def bool_arithmetic(t: ModuleType) -> Any:
    a, b = t.tensor([True, False]), t.tensor([True, True])
    return [a + b, a * b, a + 1, a * 2.5, a & b, a | b, a ^ b, ~a, a.sum(), a.float().mean()]


@scenario
def integer_true_division_and_overflow(t: ModuleType) -> Any:
    i = t.tensor([7, -7], dtype=t.int8)
    # A Python int is cast to the tensor's dtype with wrap-around: int8 + 1000 adds -24.
    u = t.tensor([250], dtype=t.uint8)
    return [i / 2, i * 20, i + 1000, u + 10, u - 300, t.tensor([1]) + 2**63, t.add(1000, i)]


@scenario
def integer_too_big_for_any_dtype(t: ModuleType) -> Any:
    return t.tensor([1], dtype=t.int8) + 2**70


@scenario
def comparisons_and_logic(t: ModuleType) -> Any:
    x, y = t.tensor([1.0, 2.0, 3.0]), t.tensor([3.0, 2.0, 1.0])
    return [
        x < y,
        x <= 2,
        x == y,
        x != 2,
        2 > x,  # noqa: SIM300 - a number on the left: Tensor.__lt__ reflected
        x >= y,
        (x > 1) & (y > 1),
        (x > 1) | (y > 2),
        ~(x > 1),
        t.logical_not(x - 2),
        x.logical_xor(y - 2),
    ]


@scenario
def equality_with_something_that_is_not_a_tensor(t: ModuleType) -> Any:
    x = t.tensor([1.0])
    return [x == None, x != "a", x in [None]]  # noqa: E711


# -- conversions ------------------------------------------------------------------------------


@scenario
def item(t: ModuleType) -> Any:
    return [
        t.tensor(1.5).item(),
        t.tensor([2]).item(),
        t.tensor([[True]]).item(),
        t.tensor(2.0, requires_grad=True).item(),
    ]


@scenario
def item_of_many(t: ModuleType) -> Any:
    return t.tensor([1.0, 2.0]).item()


@scenario
def tolist(t: ModuleType) -> Any:
    return [
        t.tensor([[1.0, 2.0], [3.0, 4.0]]).tolist(),
        t.tensor(5).tolist(),
        t.tensor([True]).tolist(),
        t.tensor([1.5], requires_grad=True).tolist(),
        t.zeros(0, 2).tolist(),
    ]


@scenario
def numpy_shares_memory(t: ModuleType) -> Any:
    x = t.tensor([1.0, 2.0])
    array = x.numpy()
    array[0] = 9.0
    return [x, array.dtype.name, x.detach().numpy().shape]


@scenario
def numpy_of_a_tensor_requiring_grad(t: ModuleType) -> Any:
    return t.tensor([1.0], requires_grad=True).numpy()


@scenario
def python_number_conversions(t: ModuleType) -> Any:
    return [
        float(t.tensor(2.5)),
        float(t.tensor([3])),
        int(t.tensor([2.7])),
        int(t.tensor(-2.7)),
        bool(t.tensor([0.0])),
        bool(t.tensor(3)),
        [10, 20, 30][t.tensor(1)],
    ]


@scenario
def float_of_many_elements(t: ModuleType) -> Any:
    return float(t.tensor([1.0, 2.0]))


@scenario
def bool_of_many_elements(t: ModuleType) -> Any:
    return bool(t.tensor([1.0, 2.0]))


@scenario
def index_with_a_float_tensor(t: ModuleType) -> Any:
    return [10, 20][t.tensor(1.0)]


@scenario
def len_and_iteration(t: ModuleType) -> Any:
    x = t.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    return [len(x), [row for row in x], len(t.zeros(0, 3))]


@scenario
def len_of_a_zero_dim_tensor(t: ModuleType) -> Any:
    return len(t.tensor(1.0))


@scenario
def iteration_over_a_zero_dim_tensor(t: ModuleType) -> Any:
    return list(t.tensor(1.0))


@scenario
def dtype_conversion_methods(t: ModuleType) -> Any:
    x = t.tensor([-1.7, 0.0, 2.5])
    return [
        x.double(),
        x.half(),
        x.long(),
        x.int(),
        x.bool(),
        x.float() is x,
        x.to(t.float64),
        x.to(dtype=t.int32),
        x.to(t.tensor([1], dtype=t.int64)),
        x.to("cpu") is x,
        x.to("cpu", t.float64),
        x.to(x.dtype) is x,
        x.type(),
        x.type(t.float64),
        t.tensor([1, 2]).type(),
        x.cpu() is x,
    ]


@scenario
def metadata(t: ModuleType) -> Any:
    x = t.zeros(2, 3, 4, dtype=t.float64)
    v = x.transpose(0, 2)
    return [
        x.shape,
        x.size(),
        x.size(1),
        x.size(-1),
        x.dim(),
        x.ndim,
        x.numel(),
        x.nelement(),
        x.element_size(),
        t.zeros(1, dtype=t.int16).element_size(),
        x.stride(),
        x.stride(0),
        v.stride(),
        x.is_contiguous(),
        v.is_contiguous(),
        x.is_floating_point(),
        t.tensor([1]).is_floating_point(),
        str(x.device),
        x.is_cuda,
        v.data_ptr() == x.data_ptr(),
        x[1].data_ptr() == x.data_ptr(),
        t.numel(x),
        t.is_tensor(x),
        t.is_tensor([1.0]),
        x.shape.numel(),
        repr(x.shape),
    ]


@scenario
def size_dim_out_of_range(t: ModuleType) -> Any:
    return t.zeros(2, 3).size(2)
