"""Values: forward results (values, shapes, dtypes) of ops on plain tensors match torch."""

from conformance.testing import differential_test

test_values_programs_behave_like_torch = differential_test("values")
