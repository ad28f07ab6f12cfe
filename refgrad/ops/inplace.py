"""Running an op table entry in place: ``x.add_(y)``, ``x *= 2``, ``x.zero_()``, ...

The value is written into the tensor's own memory (so its views see it), the shared
version counter moves, and — if autograd is watching — the tensor's history is replaced
by the op's node (or, for a view, routed through its base; see autograd/inplace.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refgrad._tensor import Tensor, as_operand
from refgrad.autograd import inplace
from refgrad.ops.op import Op


def apply_inplace(op: Op, target: Tensor, args: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
    inplace.check_inplace(target)
    inputs = [target, *(as_operand(a) for a in args)]
    needs_grad = op.needs_grad(inputs)
    saved_inputs = inputs
    if needs_grad and op.uses_saved_input(op.inputs[0], inputs):
        # The formula needs the value being overwritten: keep a copy, as torch does.
        saved_inputs = [target.clone(), *inputs[1:]]
    raw_outputs, result_dtype = op.compute(inputs, attrs)
    _write(target, np.asarray(raw_outputs[0]), result_dtype.name)
    target._version_counter.value += 1
    if needs_grad:
        node = op.record(inputs, saved_inputs, [target], attrs)
        if target._base is not None:
            inplace.rebase_history(target, node)
        else:
            target._grad_fn = node
            target._output_nr = 0
    return target


def _write(target: Tensor, value: np.ndarray, result_dtype: str) -> None:
    if value.shape != target.shape:
        broadcast = np.broadcast_shapes(value.shape, target.shape)
        raise RuntimeError(
            f"output with shape {list(target.shape)} doesn't match the broadcast shape "
            f"{list(broadcast)}"
        )
    if value.dtype.kind == "f" and not target._dtype.is_floating_point:
        raise RuntimeError(
            f"result type {_c_name(result_dtype)} can't be cast to the desired output type "
            f"{target._dtype.c_name}"
        )
    np.copyto(target._array, value, casting="unsafe")


def _c_name(dtype_name: str) -> str:
    from refgrad import _dtypes

    return next(d.c_name for d in _dtypes.ALL_DTYPES if d.name == dtype_name)
