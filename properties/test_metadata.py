"""Metadata: requires_grad, is_leaf and grad_fn names of results match torch."""

from conformance.testing import differential_test

test_metadata_programs_behave_like_torch = differential_test("metadata")
