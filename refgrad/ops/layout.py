"""The memory layout of an elementwise op's result, as torch's TensorIterator chooses it.

Why it matters: layout is observable (`stride()`, `is_contiguous()`, and whether `view()`
succeeds). NumPy and torch agree while the inputs agree: both keep a layout all the
inputs share. When inputs disagree (`t.T + ones`), NumPy falls back to C order, while
torch lets the first input that can tell decide (TensorIterator::reorder_dimensions):
`t.T + ones` keeps `t.T`'s strides.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def torch_layout(result: np.ndarray, operands: tuple[Any, ...]) -> np.ndarray:
    """`result` (an elementwise op's NumPy result), laid out in memory as torch's would be."""
    if result.ndim < 2:
        return result
    for o in operands:
        if isinstance(o, np.ndarray) and not (o.shape == result.shape and o.flags.c_contiguous):
            break
    else:
        return result  # the common case, where torch takes a fast path to C order too
    order = _dimension_order(result.shape, [o for o in operands if isinstance(o, np.ndarray)])
    strides = [0] * result.ndim
    step = result.itemsize
    for d in order:
        strides[d], step = step, step * result.shape[d]
    if all(n == 1 or s == want for n, s, want in zip(result.shape, result.strides, strides,
                                                       strict=True)):
        # Laid out so already. Strides of size-1 dimensions are never stepped along, but
        # torch's next elementwise op reads them to break ties: give them torch's values.
        return np.lib.stride_tricks.as_strided(result, strides=strides)
    # Allocate with `order[0]` fastest, then view it in the result's dimension order.
    buffer = np.empty([result.shape[d] for d in reversed(order)], dtype=result.dtype)
    last = result.ndim - 1
    laid_out = buffer.transpose([last - order.index(d) for d in range(result.ndim)])
    np.copyto(laid_out, result)
    return laid_out


def _dimension_order(shape: tuple[int, ...], operands: list[np.ndarray]) -> list[int]:
    """The result's dimensions, fastest-moving first: an insertion sort of the dimensions
    (starting from C order) that asks each operand in turn and takes the first clear answer.
    An operand broadcast along either dimension has no say; equal strides put the smaller
    dimension first."""
    ndim = len(shape)
    strides = [_broadcast_strides(o, shape) for o in operands]

    def should_swap(dim0: int, dim1: int) -> int:
        for operand_strides in strides:
            stride0, stride1 = operand_strides[dim0], operand_strides[dim1]
            if stride0 == 0 or stride1 == 0:
                continue
            if stride0 != stride1:
                return 1 if stride0 > stride1 else -1
            if shape[dim0] > shape[dim1]:
                return 1
        return 0

    order = list(range(ndim - 1, -1, -1))
    for i in range(1, ndim):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(order[dim0], order[dim1])
            if comparison > 0:
                order[dim0], order[dim1] = order[dim1], order[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    return order


def _broadcast_strides(operand: np.ndarray, shape: tuple[int, ...]) -> list[int]:
    """An operand's strides over the result's dimensions: 0 where it is broadcast."""
    missing = len(shape) - operand.ndim
    strides = [0] * missing
    for size, stride, result_size in zip(operand.shape, operand.strides, shape[missing:],
                                         strict=True):
        strides.append(0 if size == 1 and result_size != 1 else stride)
    return strides
