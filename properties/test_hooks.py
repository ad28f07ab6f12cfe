"""Hooks: call order, the gradients hooks see, and gradients they replace match torch."""

from conformance.testing import differential_test

test_hooks_programs_behave_like_torch = differential_test("hooks")
