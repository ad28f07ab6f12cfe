"""retain_graph: a second backward through a freed graph fails exactly when torch's does."""

from conformance.testing import differential_test

test_retain_graph_programs_behave_like_torch = differential_test("retain_graph")
