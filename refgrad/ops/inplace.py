"""Running an op table entry in place: ``x.add_(y)``, ``x *= 2``, ``x.zero_()``, ...

The value is written into the tensor's own memory (so its views see it), the shared
version counter moves, and — if autograd is watching — the tensor's history is replaced
by the op's node (or, for a view, routed through its base; see autograd/inplace.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refgrad._dtypes import dtype
from refgrad._tensor import Tensor, as_operand
from refgrad.autograd import inplace
from refgrad.ops.op import Op


def apply_inplace(op: Op, target: Tensor, args: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
    inputs = [target, *(a if isinstance(a, bool | int | float) else as_operand(a) for a in args)]
    others = [a for a in inputs[1:] if isinstance(a, Tensor)]
    inplace.check_inplace(target, any(a.requires_grad for a in others))
    for other in others:
        _check_no_partial_overlap(target, other)
    node = None
    if op.needs_grad(inputs):
        saved_inputs = inputs
        if op.uses_saved_input(op.inputs[0], inputs):
            # The formula needs the value about to be overwritten: save a copy, as torch does.
            saved_inputs = [target.clone(), *inputs[1:]]
        node = op.record(inputs, attrs, saved_inputs)
    raw_outputs, result_dtype = op.compute(inputs, attrs)
    _write(target, np.asarray(raw_outputs[0]), result_dtype)
    target._version_counter.value += 1
    if node is not None:
        op.save_outputs(node, [target])
        if target._base is not None:
            inplace.rebase_history(target, node)
        else:
            target._grad_fn = node
            target._output_nr = 0
    return target


def _check_no_partial_overlap(target: Tensor, other: Tensor) -> None:
    """Reading memory while writing it is fine only when both are the very same elements."""
    a, b = target._array, other._array
    same_layout = (
        a.shape == b.shape and a.strides == b.strides and target.data_ptr() == other.data_ptr()
    )
    if not same_layout and np.may_share_memory(a, b) and np.shares_memory(a, b):
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to tensor "
            "refer to a single memory location. Please clone() the tensor before performing the "
            "operation."
        )


def _write(target: Tensor, value: np.ndarray, result_dtype: dtype | None) -> None:
    if value.shape != target.shape:
        broadcast = np.broadcast_shapes(value.shape, target.shape)
        raise RuntimeError(
            f"output with shape {list(target.shape)} doesn't match the broadcast shape "
            f"{list(broadcast)}"
        )
    if (
        result_dtype is not None
        and result_dtype.is_floating_point
        and not target._dtype.is_floating_point
    ):
        raise RuntimeError(
            f"result type {result_dtype.c_name} can't be cast to the desired output type "
            f"{target._dtype.c_name}"
        )
    if not target._array.flags.writeable:  # an expanded view: elements share memory
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    np.copyto(target._array, value, casting="unsafe")
