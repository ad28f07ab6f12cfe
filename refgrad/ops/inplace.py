"""Running an op table entry in place: ``x.add_(y)``, ``x *= 2``, ``x.zero_()``, ...

The value is written into the tensor's own memory (so its views see it), the shared
version counter moves, and — if autograd is watching — the tensor's history is replaced
by the op's node (or, for a view, routed through its base; see autograd/inplace.py).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from refgrad._dtypes import dtype
from refgrad._tensor import Tensor, as_operand
from refgrad.autograd import inplace
from refgrad.ops import derivatives as D
from refgrad.ops.op import Op


def apply_inplace(op: Op, target: Tensor, args: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
    """``D.index_put_as_masked_fill`` is index_put_ with one bool mask and a one-element
    value, which torch runs as masked_fill_: the value is read as a number first, so it may
    share the target's memory."""
    as_masked_fill = op is D.index_put_as_masked_fill
    inputs = [target, *(a if isinstance(a, bool | int | float) else as_operand(a) for a in args)]
    others = [a for a in inputs[1:] if isinstance(a, Tensor)]
    inplace.check_inplace(target, any(a.requires_grad for a in others))
    if target._is_zero_tensor:
        raise RuntimeError(
            inplace.ZERO_TENSOR_COPY if op is D.copy else inplace.ZERO_TENSOR_INPLACE
        )
    # The node first, as torch's autograd layer makes it before the kernel checks: making
    # it regenerates a stale view's grad_fn even if the kernel then refuses.
    node = None
    if op.needs_grad(inputs):
        saved_inputs = inputs
        if op.uses_saved_input(op.inputs[0], inputs):
            # The formula needs the value about to be overwritten: save a copy, as torch does.
            saved_inputs = [target.clone(), *inputs[1:]]
        node = op.record(inputs, attrs, saved_inputs)
    into_expanded = (op is D.index_put or as_masked_fill) and _internal_overlap(target._array)
    if into_expanded:
        _warn_expanded(index_put=True, masked_fill=as_masked_fill)  # before any other check
    # index_put_ refuses even a full overlap.
    forbidden = {"partial", "full"} if op is D.index_put else {"partial"}
    # fill_ and masked_fill_ read a tensor value as a number first: it may overlap.
    checked = () if as_masked_fill or op is D.fill_tensor else others
    for other in checked[:1] if op is D.masked_fill_tensor else checked:
        if _overlap(target, other) in forbidden:
            raise RuntimeError(
                "unsupported operation: some elements of the input tensor and the written-to "
                "tensor refer to a single memory location. Please clone() the tensor before "
                "performing the operation."
            )
    masked_fill = op is D.masked_fill or op is D.masked_fill_tensor
    if masked_fill:
        _check_masked_fill_(target, inputs[1], inputs[2] if len(inputs) > 2 else None)
    raw_outputs, result_dtype = op.compute(inputs, attrs)
    if into_expanded:
        # Only the selected elements, in order: the last write to a shared location wins.
        values = inputs[1]
        assert isinstance(values, Tensor)
        target._array[attrs["indices"]] = values._array.astype(target._dtype.numpy, copy=False)
    elif masked_fill and _internal_overlap(target._array):
        # torch fills the elements the mask selects (one value: the order is moot).
        mask = inputs[1]
        assert isinstance(mask, Tensor)
        np.copyto(target._array, raw_outputs[0], where=np.broadcast_to(mask._array, target.shape))
    else:
        # Filling with a number is idempotent: torch lets it write an expanded tensor. copy_
        # from the very same data (x.copy_(x), even expanded) does nothing; from data that
        # only broadcasts to it (expanded.copy_(its base)) it is a write like any other.
        source = inputs[1] if op is D.copy else None
        if not (isinstance(source, Tensor) and _same_elements(source._array, target._array)):
            overlap_ok = op is D.fill or op is D.zero
            _write(target, np.asarray(raw_outputs[0]), result_dtype, overlap_ok)
    target._version_counter.value += 1
    if node is not None:
        if target._base is not None:
            inplace.rebase_history(target, node)
        else:
            target._grad_fn = node
            target._output_nr = 0
        # Saved after the history changed, as torch does (a view's result remembers the
        # view's new grad_fn).
        op.save_outputs(node, [target], inplace_on_view=target._base is not None)
    return target


def _check_masked_fill_(target: Tensor, mask: Any, value: Any) -> None:
    """torch's masked_fill_ checks, in its order: a 0-dim value, a bool mask; it warns if
    the tensor is expanded; then the mask must broadcast to it (the tensor named first)."""
    D.check_masked_fill_value(value)
    D.check_mask(mask._array)
    if _internal_overlap(target._array):
        _warn_expanded(index_put=False, masked_fill=True)
    D.broadcast_shape(target.shape, mask.shape)


def _internal_overlap(a: np.ndarray) -> bool:
    """Several elements at one memory location (an expanded tensor)."""
    return a.size > 0 and any(s == 0 and n > 1 for s, n in zip(a.strides, a.shape, strict=True))


def _warn_expanded(index_put: bool, masked_fill: bool) -> None:
    """torch only warns for index_put_ and masked_fill_ on an expanded tensor (both, for
    index_put_ with one mask and one value, which runs masked_fill_)."""
    if index_put:
        warnings.warn(
            "Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor "
            "before performing this operation. This also applies to advanced indexing e.g. "
            "tensor[indices] = tensor",
            UserWarning,
            stacklevel=5,
        )
    if masked_fill:
        warnings.warn(
            "Use of masked_fill_ on expanded tensors is deprecated. Please clone() the tensor "
            "before performing this operation. This also applies to advanced indexing e.g. "
            "tensor[mask] = scalar",
            UserWarning,
            stacklevel=5,
        )


def _overlap(x: Tensor, y: Tensor) -> str:
    """torch's memory-overlap status of two tensors: none, full, partial or too hard."""
    if x is y:
        return "full"  # the very same tensor, whatever its size or layout (t[i] = t)
    a, b = x._array, y._array
    if a.size == 0 or b.size == 0 or not np.may_share_memory(a, b):
        return "none"
    if not (_dense(a) and _dense(b)):
        return "too hard"  # torch does not judge overlapping layouts (expanded tensors)
    a_start, b_start = _address(a), _address(b)
    a_end, b_end = a_start + a.nbytes, b_start + b.nbytes
    if (a_start, a_end) == (b_start, b_end):
        # Same span: torch calls it full overlap only if the strides are the same too.
        same_layout = a.ndim == b.ndim and a.strides == b.strides
        return "full" if same_layout else "partial"
    return "partial" if a_start < b_end and b_start < a_end else "none"


def _dense(a: np.ndarray) -> bool:
    """Non-overlapping and dense: the elements tile a contiguous block, in some order."""
    expected = a.itemsize
    for stride, size in sorted((s, n) for s, n in zip(a.strides, a.shape, strict=True) if n > 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def _same_elements(a: np.ndarray, b: np.ndarray) -> bool:
    """The very same memory, element for element (same start, shape and strides)."""
    return a.shape == b.shape and a.strides == b.strides and _address(a) == _address(b)


def _write(
    target: Tensor, value: np.ndarray, result_dtype: dtype | None, overlap_ok: bool = False
) -> None:
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
    if not overlap_ok and _internal_overlap(target._array):
        raise RuntimeError(  # an expanded view: several elements are one memory location
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    np.copyto(target._array, value, casting="unsafe")
