"""detach(): shares storage and version counter as in torch; equals its source in value."""

from hypothesis import given

from conformance.engines import Engine
from conformance.intrinsic import Function, detach_mismatch, functions
from conformance.testing import differential_test, require

test_detach_programs_behave_like_torch = differential_test("detach")


@given(function=functions(dtype="float32"))
def test_detached_tensors_equal_their_source(function: Function, engine: Engine) -> None:
    require(lambda: detach_mismatch(function, engine))
