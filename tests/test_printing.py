"""refgrad._printing.format_tensor must reproduce repr(torch.Tensor) character for character.

Every expectation here comes from real torch: each case builds a NumPy array, builds the
torch tensor from it, and compares the two reprs. Nothing is hard-coded.
"""

from __future__ import annotations

import ast
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refgrad import _printing
from refgrad._printing import format_tensor, get_printoptions, set_printoptions

FLOAT_DTYPES = ["float32", "float64", "float16"]
OTHER_DTYPES = ["int64", "int32", "int16", "int8", "uint8", "bool"]
ALL_DTYPES = FLOAT_DTYPES + OTHER_DTYPES

nan, inf = math.nan, math.inf


@pytest.fixture(autouse=True)
def default_printoptions() -> Iterator[None]:
    """Every test starts and ends with default options in both libraries."""
    torch.set_printoptions(profile="default")
    set_printoptions(profile="default")
    yield
    torch.set_printoptions(profile="default")
    set_printoptions(profile="default")


def tensor_of(array: np.ndarray | np.generic) -> torch.Tensor:
    # np.array copies, and turns the NumPy scalars that 0-d arithmetic yields into arrays.
    return torch.from_numpy(np.array(array))


def autograd_suffix_of(tensor: torch.Tensor) -> str | None:
    if tensor.grad_fn is not None:
        return f"grad_fn=<{type(tensor.grad_fn).__name__}>"
    if tensor.requires_grad:
        return "requires_grad=True"
    return None


def assert_same_repr(tensor: torch.Tensor) -> None:
    """format_tensor on the tensor's values, dtype and autograd state equals repr(tensor)."""
    ours = format_tensor(
        tensor.detach().numpy(),
        dtype=str(tensor.dtype).removeprefix("torch."),
        autograd_suffix=autograd_suffix_of(tensor),
    )
    theirs = repr(tensor)
    assert ours == theirs, f"\nrefgrad:\n{ours}\ntorch:\n{theirs}"


def assert_same_repr_of(values: Any, dtype: str) -> None:
    # Values beyond float16's range become inf in both libraries, which is worth testing.
    with np.errstate(over="ignore"):
        array = np.asarray(values, dtype=dtype)
    assert_same_repr(tensor_of(array))


def torch_printoptions() -> dict[str, Any]:
    # torch has no public getter; torch.set_printoptions lives in this module.
    return torch._tensor_str.get_printoptions()


def set_both(**options: Any) -> None:
    torch.set_printoptions(**options)
    set_printoptions(**options)


# ---------------------------------------------------------------------------------------
# A table of edge shapes, for every dtype and several kinds of float values.

EDGE_SHAPES = [(), (0,), (2, 0), (1,), (3,), (2, 3), (2, 1, 3), (2, 2, 2, 2), (1001,), (40, 40),
               (3, 2000)]  # fmt: skip

FLOAT_FLAVOURS = ["integral", "fractional", "wide", "special"]


def edge_array(shape: tuple[int, ...], dtype: str, flavour: str) -> np.ndarray:
    """Reproducible values of one flavour; non-float dtypes span their whole range."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, dtype, flavour)).encode()))
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype not in FLOAT_DTYPES:
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if flavour == "integral":
        values = rng.integers(-20, 20, size=shape).astype(np.float64)
    elif flavour == "fractional":
        values = rng.standard_normal(shape)
    elif flavour == "wide":
        # float16 overflows past 65504, so keep its magnitudes smaller.
        top = 4 if dtype == "float16" else 9
        values = rng.standard_normal(shape) * 10.0 ** rng.integers(-7, top, size=shape)
    else:
        pool = np.array([nan, inf, -inf, -0.0, 0.0, 1.5, -2.0, 7.0])
        values = rng.choice(pool, size=shape)
    return values.astype(dtype)


EDGE_CASES = [
    pytest.param(shape, dtype, flavour, id=f"{shape}-{dtype}-{flavour}")
    for shape in EDGE_SHAPES
    for dtype in ALL_DTYPES
    for flavour in (FLOAT_FLAVOURS if dtype in FLOAT_DTYPES else ["range"])
]


@pytest.mark.parametrize(("shape", "dtype", "flavour"), EDGE_CASES)
def test_edge_table(shape: tuple[int, ...], dtype: str, flavour: str) -> None:
    assert_same_repr(tensor_of(edge_array(shape, dtype, flavour)))


@pytest.mark.parametrize("shape", [(2, 3), (1001,), (3, 2000)], ids=str)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_edge_table_with_autograd(shape: tuple[int, ...], dtype: str) -> None:
    leaf = tensor_of(edge_array(shape, dtype, "fractional")).requires_grad_()
    assert_same_repr(leaf)
    assert_same_repr(leaf * 2)


# ---------------------------------------------------------------------------------------
# Float styles and the rules that choose between them.

FLOAT_VALUE_CASES = {
    "integer style": [1.0, 2.0, -30.0],
    "integer style with zero": [0.0, 10.0],
    "fixed style": [0.5, 1.25, -3.0],
    "fixed rounds": [0.123456, 9.99996],
    "sci for tiny": [1e-5, 1.0],
    "sci for tiny alone": [1e-5],
    "sci for huge": [1e9, 2.0],
    "sci for huge integers": [1e16],
    "sci for big ratio": [1.0, 1000.5],
    "ratio exactly 1000 is fixed": [1.0, 1000.0],
    "ratio exactly 1000 with fractions": [0.5, 500.0, 0.75],
    "max exactly 1e8 is not sci": [1e8],
    "max just over 1e8": [100000008.0],
    "min exactly 1e-4 is not sci": [1e-4, 0.05],
    "min just under 1e-4": [9.9e-5, 0.05],
    "float32 rounding of 0.1": [0.1],
    "float32 rounding of 1/3": [1 / 3],
    "float32 rounding of 123456.7": [123456.7],
    "1e20": [1e20],
    "large integer-valued": [16777217.0, 3.0],
    "all zeros": [0.0, 0.0],
    "negative zero only": [-0.0],
    "negative zero among integers": [-0.0, 1.0, 2.0],
    "negative zero among fractions": [-0.0, 1.5],
    "tiny negative rounds to -0.0000": [-1e-5, 5.0, 50.0],
    "nan only": [nan],
    "infs only": [inf, -inf],
    "nan with integers": [nan, 1.0, 2.0],
    "nan with fractions": [nan, 1.5],
    "-inf wider than the column": [-inf, 1.0],
    "inf with sci": [inf, 1e-7, 1.0],
    "negative values": [-1.5, 2.25, -1000.125],
    "float16 max": [65504.0, 1.0],
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("values", FLOAT_VALUE_CASES.values(), ids=FLOAT_VALUE_CASES.keys())
def test_float_styles(values: list[float], dtype: str) -> None:
    assert_same_repr_of(values, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("value", [1.5, -2.0, 0.0, -0.0, nan, -inf, 1e-9, 3e10, 1 / 3])
def test_zero_dim_floats(value: float, dtype: str) -> None:
    assert_same_repr_of(value, dtype)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3, 0), (1, 0)], ids=str)
def test_empty(shape: tuple[int, ...], dtype: str) -> None:
    assert_same_repr(tensor_of(np.zeros(shape, dtype=dtype)))


@pytest.mark.parametrize("dtype", OTHER_DTYPES)
def test_integers_and_bools(dtype: str) -> None:
    assert_same_repr_of([0, 1, 1, 0], dtype)
    assert_same_repr_of([[1, 0], [0, 1]], dtype)
    assert_same_repr_of(1, dtype)
    if dtype not in ("bool", "uint8"):
        assert_same_repr_of([-5, 3, 100], dtype)


# ---------------------------------------------------------------------------------------
# Layout: nesting, wrapping, summarisation.


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize(
    "shape", [(2, 3), (3, 1), (1, 1, 1), (2, 3, 4), (2, 1, 2, 3), (1, 2, 1, 2, 1)], ids=str
)
def test_nesting(shape: tuple[int, ...], dtype: str) -> None:
    values = np.arange(math.prod(shape)).reshape(shape) * 1.5 - 4
    assert_same_repr_of(values, dtype)


@pytest.mark.parametrize("length", [10, 13, 14, 15, 27, 100, 999])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "bool"])
def test_long_rows_wrap(length: int, dtype: str) -> None:
    values = np.linspace(-50, 50, length)
    assert_same_repr_of(values if dtype != "bool" else values > 0, dtype)


@pytest.mark.parametrize("shape", [(2, 30), (3, 2, 25), (2, 100)], ids=str)
def test_nested_rows_wrap(shape: tuple[int, ...]) -> None:
    assert_same_repr_of(np.linspace(-1, 1, math.prod(shape)).reshape(shape), "float64")


@pytest.mark.parametrize(
    "shape",
    [(1001,), (1000,), (40, 40), (3, 2000), (2000, 2), (2, 2, 300), (7, 7, 21), (11, 1, 100)],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_summarisation(shape: tuple[int, ...], dtype: str) -> None:
    values = np.arange(math.prod(shape)).reshape(shape)
    assert_same_repr_of(values % 3 == 0 if dtype == "bool" else values * 0.25, dtype)


def test_summarisation_formats_only_shown_values() -> None:
    # The hidden middle element would force scientific style and widen every column.
    values = np.ones(2001)
    values[1000] = 1e-20
    assert_same_repr_of(values, "float32")


# ---------------------------------------------------------------------------------------
# Suffixes: dtype, size and autograd, and how they wrap.


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_autograd_suffixes(dtype: str) -> None:
    leaf = tensor_of(np.array([[1.5, -2.0], [0.25, 8.0]], dtype=dtype)).requires_grad_()
    assert_same_repr(leaf)
    assert_same_repr(leaf * 2)
    assert_same_repr(leaf.sum())
    assert_same_repr(leaf[0])
    assert_same_repr(leaf.exp().t())
    assert_same_repr(leaf.detach())


@pytest.mark.parametrize("length", range(1, 16))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_suffixes_wrap_at_linewidth(length: int, dtype: str) -> None:
    # Rows of growing length cross the point where each suffix must start a new line.
    leaf = tensor_of(np.linspace(-1, 1, length).astype(dtype)).requires_grad_()
    assert_same_repr(leaf)
    assert_same_repr(leaf * 2)
    assert_same_repr(torch.nn.functional.pad(leaf, (0, 1)))  # a long grad_fn name
    assert_same_repr(leaf.reshape(1, length) * 3)


@pytest.mark.parametrize("linewidth", range(8, 90))
def test_suffixes_wrap_at_custom_linewidth(linewidth: int) -> None:
    # Every linewidth, so that each suffix, wrapped or not, is tried on both sides of the
    # limit, including a suffix that follows one that started a new line.
    set_both(linewidth=linewidth)
    for length in (1, 3, 4, 7):
        leaf = tensor_of(np.linspace(0, 1, length)).requires_grad_()
        assert_same_repr(leaf * 2)
        assert_same_repr(tensor_of(np.zeros((length, 0), dtype=np.int16)))
        assert_same_repr(tensor_of(np.zeros((length, 0))).requires_grad_())


def test_format_tensor_casts_to_dtype() -> None:
    assert format_tensor(np.array([0.1]), dtype="float32") == repr(
        tensor_of(np.array([0.1], dtype=np.float32))
    )


def test_unknown_dtype_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported dtype"):
        format_tensor(np.array([1.0]), dtype="complex64")


def test_module_does_not_import_torch() -> None:
    tree = ast.parse(Path(_printing.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "torch" for name in imported)


# ---------------------------------------------------------------------------------------
# Print options.

OPTION_CASES = [
    {"precision": 0},
    {"precision": 2},
    {"precision": 8},
    {"threshold": 5},
    {"threshold": 0},
    {"threshold": inf},
    {"edgeitems": 0},
    {"edgeitems": 1},
    {"edgeitems": 6},
    {"threshold": 5, "edgeitems": 0},
    {"threshold": 10, "edgeitems": 1},
    {"linewidth": 5},
    {"linewidth": 30},
    {"linewidth": 150},
    {"sci_mode": True},
    {"sci_mode": False},
    {"profile": "short"},
    {"profile": "full"},
    {"profile": "default"},
    {"profile": "short", "precision": 6, "sci_mode": True},
    {"profile": "no such profile"},
]

SAMPLE_ARRAYS = [
    np.array(2.5),
    np.array([0.0, 0.0]),
    np.array([1e-5, 3.25, 1e3]),
    np.arange(12.0).reshape(3, 4),
    np.linspace(-3, 3, 30).reshape(2, 3, 5),
    np.arange(2500.0) / 7,
    np.arange(1500).reshape(30, 50),
    np.array([nan, -inf, 2.0, -0.0]),
    np.zeros((2, 0)),
]


@pytest.mark.parametrize("options", OPTION_CASES, ids=str)
def test_printoptions_match_torch(options: dict[str, Any]) -> None:
    set_both(**options)
    assert get_printoptions() == torch_printoptions()
    for array in SAMPLE_ARRAYS:
        for dtype in ("float32", "float64"):
            assert_same_repr(tensor_of(array.astype(dtype)))
        for dtype in ("int16", "bool"):
            whole = np.nan_to_num(array, posinf=99, neginf=-99).astype(dtype)
            assert_same_repr(tensor_of(whole))
        leaf = tensor_of(array.astype(np.float64)).requires_grad_()
        assert_same_repr(leaf * 2)


def test_printoptions_round_trip() -> None:
    set_both(precision=6, threshold=50, edgeitems=2, linewidth=100, sci_mode=True)
    saved = get_printoptions()
    assert saved == torch_printoptions()

    set_both(profile="full")  # also resets sci_mode, since it was not given
    assert get_printoptions() == torch_printoptions()
    assert get_printoptions()["sci_mode"] is None

    set_both(**saved)
    assert get_printoptions() == saved == torch_printoptions()
    assert_same_repr_of(np.arange(100.0) / 3, "float32")


def test_precision_survives_profile_free_calls() -> None:
    set_both(precision=2)
    set_both(linewidth=40)
    assert get_printoptions() == torch_printoptions()
    assert get_printoptions()["precision"] == 2


# ---------------------------------------------------------------------------------------
# Property test: random float tensors of mixed magnitudes, under random options.

MIXED_VALUES = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.fractions(min_value=-100, max_value=100, max_denominator=64).map(float),
    st.floats(1e8, 1e30).flatmap(lambda x: st.sampled_from([x, -x])),
    st.floats(1e-30, 1e-4).flatmap(lambda x: st.sampled_from([x, -x])),
    st.sampled_from([nan, inf, -inf, 0.0, -0.0]),
    st.floats(-1e6, 1e6),
)

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=8).filter(
    lambda shape: math.prod(shape) <= 50
)


@st.composite
def float_arrays(draw: st.DrawFn) -> np.ndarray:
    shape = draw(SHAPES)
    values = draw(st.lists(MIXED_VALUES, min_size=math.prod(shape), max_size=math.prod(shape)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return np.array(values, dtype=np.float64).reshape(shape).astype(dtype)


@settings(deadline=None, max_examples=300)
@given(array=float_arrays(), requires_grad=st.booleans())
def test_property_matches_torch(array: np.ndarray, requires_grad: bool) -> None:
    tensor = tensor_of(array)
    assert_same_repr(tensor.requires_grad_() if requires_grad else tensor)


@settings(deadline=None, max_examples=200)
@given(
    array=float_arrays(),
    precision=st.integers(0, 8),
    threshold=st.integers(0, 60),
    edgeitems=st.integers(0, 4),
    linewidth=st.integers(10, 120),
    sci_mode=st.sampled_from([None, True, False]),
)
def test_property_matches_torch_under_options(
    array: np.ndarray,
    precision: int,
    threshold: int,
    edgeitems: int,
    linewidth: int,
    sci_mode: bool | None,
) -> None:
    set_both(
        precision=precision,
        threshold=threshold,
        edgeitems=edgeitems,
        linewidth=linewidth,
        sci_mode=sci_mode,
    )
    try:
        assert_same_repr(tensor_of(array))
        assert_same_repr(tensor_of(array).requires_grad_() * 2)
    finally:
        # Hypothesis runs many examples inside one test, so reset between them too.
        set_both(profile="default")
