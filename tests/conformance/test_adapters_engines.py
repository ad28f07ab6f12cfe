"""The shipped third-party engines, each skipped when not installed (`pip install
'refgrad[mygrad]'`, `[jax]`, `[autograd]`).

Fixed programs pin what issue 4 claimed and what was observed by hand: the adapters
translate faithfully (programs these engines get right come out conformant, also for
higher order and intermediate inputs), what they cannot express is not applicable, and
the differences found are the engines' own.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conformance.check import check_program
from conformance.compare import Comparison
from conformance.engines import NAMED_ENGINES, Engine, load_engine
from conformance.engines.functional import ACCUMULATION
from conformance.program import (
    ApplyOp,
    Arg,
    AutogradGrad,
    Backward,
    DType,
    MakeLeaf,
    Program,
    Ref,
    RetainGrad,
    Step,
    Values,
)

FUNCTIONAL = ("jax", "jax_x64", "autograd")


def installed(name: str) -> Engine:
    named = NAMED_ENGINES[name]
    if importlib.util.find_spec(named.package) is None:
        pytest.skip(f"{named.package} not installed (pip install 'refgrad[{named.extra}]')")
    return load_engine(name)


@pytest.fixture(scope="module")
def torch_engine() -> Engine:
    return load_engine("torch")


def check(name: str, oracle: Engine, *steps: Step) -> Comparison:
    return check_program(Program(steps), installed(name), oracle)


def leaf(name: str, *data: float, shape: tuple[int, ...] | None = None,
         dtype: DType = "float32") -> MakeLeaf:
    return MakeLeaf(name, Values(shape if shape is not None else (len(data),), data, dtype))


def op(out: str, name: str, *args: str | float, **kwargs: Arg) -> ApplyOp:
    """`out = name(*args, **kwargs)`; a str argument names a tensor."""
    return ApplyOp((out,), name, tuple(Ref(a) if isinstance(a, str) else a for a in args),
                   tuple(kwargs.items()))


def only_finding(comparison: Comparison) -> tuple[str, str, str, str]:
    (finding,) = comparison.findings
    return finding.check, finding.subject, finding.expected, finding.actual


# --------------------------------------------------------------------------- functional


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_gradients_of_a_small_graph_conform(name: str, torch_engine: Engine) -> None:
    comparison = check(
        name, torch_engine,
        leaf("t0", 1.0, 2.0, -0.5, 3.0, shape=(2, 2)),
        op("t1", "sin", "t0"), op("t2", "mul", "t1", "t0"), op("t3", "sum", "t2", dim=0),
        op("t4", "tanh", "t3"), op("t5", "mean", "t4"), op("t6", "matmul", "t0", "t0"),
        op("t7", "sum", "t6"), op("t8", "add", "t5", "t7"), Backward("t8"))
    assert comparison.findings == () and comparison.not_applicable is None


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_each_input_gets_its_total_derivative(name: str, torch_engine: Engine) -> None:
    # t1 is computed from t0: t0's gradient includes the path through t1.
    comparison = check(
        name, torch_engine, leaf("t0", 1.0, 2.0), op("t1", "exp", "t0"),
        op("t2", "mul", "t1", "t0"), op("t3", "sum", "t2"),
        AutogradGrad(("t4", "t5"), ("t3",), ("t0", "t1")))
    assert comparison.findings == () and comparison.not_applicable is None


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_higher_order_nests_vjps(name: str, torch_engine: Engine) -> None:
    comparison = check(
        name, torch_engine, leaf("t0", 1.0, -2.0), op("t1", "mul", "t0", "t0"),
        op("t2", "exp", "t1"), op("t3", "sum", "t2"),
        AutogradGrad(("t4",), ("t3",), ("t0",), create_graph=True),
        op("t5", "mul", "t4", "t0"), op("t6", "sum", "t5"), Backward("t6"))
    assert comparison.findings == () and comparison.not_applicable is None


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_an_input_the_root_does_not_reach_keeps_its_grad(name: str,
                                                         torch_engine: Engine) -> None:
    # t3 = d t2 / d t0 is 2 whatever t2 is: a backward from it does not reach t2.
    comparison = check(
        name, torch_engine, leaf("t0", 1.0), op("t1", "add", "t0", "t0"), op("t2", "sum", "t1"),
        AutogradGrad(("t3",), ("t2",), ("t0",), create_graph=True),
        op("t4", "mul", "t3", "t0"), op("t5", "sum", "t4"), Backward("t5", inputs=("t2",)))
    assert comparison.findings == () and comparison.not_applicable is None


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_torchs_aliases_and_shape_only_arguments(name: str, torch_engine: Engine) -> None:
    # x.float() of a float32 x is x itself; expand_as reads only its argument's shape.
    comparison = check(
        name, torch_engine, leaf("t0", 1.0), leaf("t1", 1.0, 2.0), op("t2", "float", "t0"),
        op("t3", "expand_as", "t2", "t1"), op("t4", "sum", "t3"), Backward("t4"))
    assert comparison.findings == () and comparison.not_applicable is None
    # An op the engine answers with its input (broadcasting to the same shape) is still
    # a new tensor, as in torch.
    comparison = check(name, torch_engine, leaf("t0", 1.0, shape=()),
                       op("t1", "expand", "t0", ()), Backward("t1"))
    assert comparison.findings == () and comparison.not_applicable is None


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_a_second_backward_into_grad_is_not_applicable(name: str,
                                                       torch_engine: Engine) -> None:
    comparison = check(
        name, torch_engine, leaf("t0", 1.0), op("t1", "mul", "t0", "t0"),
        op("t2", "sum", "t1"), Backward("t2", retain_graph=True), Backward("t2"))
    assert comparison.findings == ()
    assert comparison.not_applicable == ACCUMULATION


# --------------------------------------------------------------------------- jax


def test_jax_without_x64_silently_computes_in_float32() -> None:
    installed("jax")
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(False):
        assert jnp.array(np.ones(2, np.float64)).dtype == jnp.float32
    with jax.enable_x64(True):
        assert jnp.array(np.ones(2, np.float64)).dtype == jnp.float64


def test_float64_programs_are_not_applicable_on_jax_and_checked_on_jax_x64(
        torch_engine: Engine) -> None:
    steps = (leaf("t0", 0.5, 1.5, dtype="float64"), op("t1", "exp", "t0"),
             op("t2", "sum", "t1"), Backward("t2"))
    assert check("jax", torch_engine, *steps).not_applicable == "engine lacks capability float64"
    comparison = check("jax_x64", torch_engine, *steps)
    assert comparison.findings == () and comparison.not_applicable is None


def test_jax_clamp_at_its_bound_passes_half_the_gradient(torch_engine: Engine) -> None:
    comparison = check("jax", torch_engine, leaf("t0", 1.0), op("t1", "clamp", "t0", min=1.0),
                       op("t2", "sum", "t1"), Backward("t2"))
    assert only_finding(comparison) == ("value", "t0.grad", "[1.]", "[0.5]")


def test_jax_without_x64_has_int32_indices(torch_engine: Engine) -> None:
    comparison = check("jax", torch_engine, leaf("t0", 1.0, 3.0),
                       ApplyOp(("t1", "t2"), "max", (Ref("t0"),), (("dim", 0),)))
    assert only_finding(comparison) == ("dtype", "t2", "int64", "int32")


# --------------------------------------------------------------------------- autograd


def test_autograd_accepts_a_gradient_of_the_wrong_shape(torch_engine: Engine) -> None:
    comparison = check("autograd", torch_engine, leaf("t0", 1.0, shape=()),
                       op("t1", "mul", "t0", 2.0),
                       Backward("t1", gradient=Values((1,), (1.0,))))
    check_, _, expected, actual = only_finding(comparison)
    assert (check_, actual) == ("status", "ran without error")
    assert expected.startswith("raised RuntimeError: Mismatch in shape")


def test_autograd_splits_the_gradient_of_tied_maxima(torch_engine: Engine) -> None:
    comparison = check("autograd", torch_engine, leaf("t0", 1.0, 1.0),
                       ApplyOp(("t1", "t2"), "max", (Ref("t0"),), (("dim", 0),)),
                       Backward("t1"))
    assert only_finding(comparison) == ("value", "t0.grad", "[1., 0.]", "[0.5, 0.5]")


# --------------------------------------------------------------------------- mygrad


def test_mygrad_overwrites_grad_instead_of_accumulating(torch_engine: Engine) -> None:
    # retain_grad() on the intermediates: torch then keeps their .grad as mygrad always
    # does, so the first difference is the leaf's second gradient.
    steps: list[Step] = [leaf("t0", 1.0, 2.0)]
    for first in (1, 3):
        steps += [op(f"t{first}", "mul", "t0", "t0"), op(f"t{first + 1}", "sum", f"t{first}"),
                  RetainGrad(f"t{first}"), RetainGrad(f"t{first + 1}"),
                  Backward(f"t{first + 1}")]
    comparison = check("mygrad", torch_engine, *steps)
    assert only_finding(comparison) == ("value", "t0.grad", "[4., 8.]", "[2., 4.]")


def test_mygrad_makes_float32_times_a_python_float_float64(torch_engine: Engine) -> None:
    comparison = check("mygrad", torch_engine, leaf("t0", 1.0), op("t1", "mul", "t0", 2.0))
    assert only_finding(comparison) == ("dtype", "t1", "float32", "float64")


def test_mygrad_keeps_the_grad_of_non_leaves(torch_engine: Engine) -> None:
    comparison = check("mygrad", torch_engine, leaf("t0", 1.0), op("t1", "mul", "t0", "t0"),
                       op("t2", "sum", "t1"), Backward("t2"))
    assert {(f.check, f.subject, f.expected) for f in comparison.findings} == {
        ("presence", "t1.grad", "None"), ("presence", "t2.grad", "None")}


# --------------------------------------------------------------------------- by hand


@pytest.mark.parametrize("name", ["mygrad", "jax", "autograd"])
def test_repeated_index_gradients_add_up(name: str) -> None:
    """Issue 4 said one engine drops repeated-index gradients: none of these does."""
    installed(name)
    index = np.array([0, 0, 2])
    if name == "mygrad":
        import mygrad as mg

        x = mg.tensor([1.0, 2.0, 3.0])
        x[index].sum().backward()
        grad = x.grad
    elif name == "jax":
        import jax

        grad = jax.grad(lambda v: v[index].sum())(np.array([1.0, 2.0, 3.0]))
    else:
        import autograd

        grad = autograd.grad(lambda v: v[index].sum())(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(grad, [2.0, 0.0, 1.0])
