"""Errors: what torch rejects, the engine rejects with the same class and message."""

from conformance.testing import differential_test

test_errors_programs_behave_like_torch = differential_test("errors")
