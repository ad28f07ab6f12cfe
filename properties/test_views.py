"""Views: in-place changes through a view and `t[index] = v` give torch's results, grad_fns
(CopySlices, AsStridedBackward0, IndexPutBackward0) and version-counter errors."""

from conformance.testing import differential_test

test_views_programs_behave_like_torch = differential_test("views")
