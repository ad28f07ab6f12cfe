"""In-place ops: results, grad_fn replacement and version-counter errors match torch."""

from conformance.testing import differential_test

test_inplace_programs_behave_like_torch = differential_test("inplace")
