"""Where the kit and the engine meet: every op of refgrad's table is called by programs
the conformance kit generates, so no op escapes the comparison with torch.

The kit never imports refgrad; this test imports both. It reads refgrad's op table
(every `Op` of refgrad/ops/derivatives.py, and the entries its factories make for list
arguments and tuple results) and the torch ops the kit reaches (its catalogue's entries,
in-place methods and setitem). A new op in the table fails here until the catalogue has
an entry calling it, or the allow-list below says why no user can call it.
"""

import functools

from conformance.strategies import reached_torch_ops
from refgrad.ops import derivatives
from refgrad.ops.op import Op

# Entries of the table with no user-facing spelling of their own: the derivatives of
# other ops, written as ops so that differentiating them again (create_graph=True) records
# torch's nodes (SigmoidBackwardBackward0, ...). Programs reach them only inside a
# backward pass: the higher_order behaviour compares their results and grad_fn names.
INTERNAL_OPS = {
    "select_backward",  # of x[i] / select
    "slice_backward",  # of x[a:b] / narrow
    "sigmoid_backward",
    "tanh_backward",
    "threshold_backward",  # of relu
    "_softmax_backward_data",
    "_log_softmax_backward_data",
    "mse_loss_backward",
    "nll_loss_backward",
    "_index_put_impl_",  # of advanced indexing (IndexBackward0 accumulates with it)
}


def refgrad_ops() -> set[str]:
    """The torch names of refgrad's op table entries."""
    names = {value.name for value in vars(derivatives).values() if isinstance(value, Op)}
    # cat/stack (one entry per list length) and split/unbind (per result count).
    factories = [value for value in vars(derivatives).values()
                 if isinstance(value, functools._lru_cache_wrapper)]
    assert factories, "the table's entry factories moved: update this test"
    for factory in factories:
        entry = factory(2)
        assert isinstance(entry, Op)
        names.add(entry.name)
    return names


def test_every_op_of_refgrad_is_called_by_generated_programs() -> None:
    missing = refgrad_ops() - reached_torch_ops() - INTERNAL_OPS
    assert not missing, (f"refgrad implements {sorted(missing)}, which no catalogue entry "
                         "calls: add entries to conformance/catalogue.py (or, for the "
                         "derivative of another op, to INTERNAL_OPS here)")


def test_the_allow_list_is_not_stale() -> None:
    """An op that leaves the table, or that the kit comes to call, leaves the list too."""
    assert INTERNAL_OPS.issubset(refgrad_ops())
    assert not INTERNAL_OPS & reached_torch_ops()
