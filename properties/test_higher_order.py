"""Higher order: gradients computed with create_graph=True differentiate as in torch."""

from conformance.testing import differential_test

test_higher_order_programs_behave_like_torch = differential_test("higher_order")
