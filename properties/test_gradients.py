"""Gradients: one backward / autograd.grad matches torch, finite differences, and is linear
in the upstream gradient."""

from hypothesis import given
from hypothesis import strategies as st

from conformance.engines import Engine
from conformance.intrinsic import (
    Function,
    finite_difference_mismatch,
    functions,
    linearity_mismatch,
    upstream_gradients,
)
from conformance.testing import differential_test, require

test_gradients_programs_behave_like_torch = differential_test("gradients")


@given(function=functions())
def test_float64_gradients_match_finite_differences(function: Function, engine: Engine) -> None:
    require(lambda: finite_difference_mismatch(function, engine))


@given(data=st.data(), function=functions(scalar=False),
       a=st.sampled_from((2.0, -1.0, 0.5)), b=st.sampled_from((1.0, 3.0, -0.5)))
def test_backward_is_linear_in_the_upstream_gradient(data: st.DataObject, function: Function,
                                                     a: float, b: float, engine: Engine) -> None:
    first = data.draw(upstream_gradients(function.root_shape))
    second = data.draw(upstream_gradients(function.root_shape))
    require(lambda: linearity_mismatch(function, engine, first, second, a, b))
