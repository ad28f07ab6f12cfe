"""Operations torch builds out of other operations, so their grad_fn is the last step's.

``matmul`` picks dot / mv / mm / bmm by rank (and reshapes around them), ``reshape`` is a
view when the memory allows and a copy otherwise, ``split`` and ``chunk`` are one
``split`` entry. Each follows torch's own decomposition, because the decomposition
is observable: it decides the grad_fn names a user sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from refgrad._tensor import Tensor
from refgrad.ops import derivatives as D


def reshape(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """As torch: a view of a contiguous tensor; an alias (_reshape_alias) of one that can
    be viewed all the same; else a copy."""
    if t.is_contiguous():
        return D.view(t, shape=shape)
    try:
        np.reshape(t._array, shape, copy=False)
    except ValueError:
        return D.unsafe_view(D.clone(t), shape=shape)
    return D.reshape_alias(t, shape=shape)


def sum_to_size(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient back to `shape` (leading dims and stretched size-1 dims)."""
    own = t.shape
    if not _expandable(shape, own):
        raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(own)}}}.")
    if not shape:  # torch's sum_to: a plain sum (SumBackward0), not a sum and a view
        return t.sum()
    leading = len(own) - len(shape)
    reduce = tuple(range(leading)) + tuple(
        leading + i for i, size in enumerate(shape) if size == 1 and own[leading + i] != 1
    )
    if reduce:
        t = t.sum(reduce, keepdim=True)
    return t.view(shape) if leading else t


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(to), strict=False))


def split(t: Tensor, split_size: int | Sequence[int], dim: int) -> tuple[Tensor, ...]:
    if t.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    size = t.shape[dim]
    if isinstance(split_size, int):
        if split_size <= 0 and size > 0:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )
        count = max(math.ceil(size / split_size), 1) if split_size else 1
        sizes = tuple(min(split_size, size - i * split_size) for i in range(count))
    else:
        sizes = tuple(split_size)
        if sum(sizes) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {dim}), but got split_sizes={list(sizes)}"
            )
    result = D.split(t, dim=dim, sizes=sizes, with_sizes=not isinstance(split_size, int))
    return result if isinstance(result, tuple) else (result,)


def chunk(t: Tensor, chunks: int, dim: int) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    if t.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    size = t.shape[dim]
    return split(t, max(math.ceil(size / chunks), 1) if size else 1, dim)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if len(tensors) == 0:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for position, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(
                f"zero-dimensional tensor (at position {position}) cannot be concatenated"
            )
    first = tensors[0]
    dim = _wrap(dim, first.ndim)
    for position, t in enumerate(tensors[1:], start=1):
        if t.ndim != first.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim}"
            )
        for d in range(first.ndim):
            if d != dim and t.shape[d] != first.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size "
                    f"{first.shape[d]} but got size {t.shape[d]} for tensor number {position} "
                    "in the list."
                )
    sizes = tuple(t.shape[dim] for t in tensors)
    return D.cat_op(len(tensors))(*tensors, dim=dim, sizes=sizes)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if len(tensors) == 0:
        raise RuntimeError("stack expects a non-empty TensorList")
    first = tensors[0]
    for position, t in enumerate(tensors[1:], start=1):
        if t.shape != first.shape:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(first.shape)} at entry 0 and {list(t.shape)} at entry {position}"
            )
    dim = _wrap(dim, first.ndim + 1)
    return D.stack_op(len(tensors))(*tensors, dim=dim)


def _wrap(dim: int, ndim: int) -> int:
    from refgrad._tensor import _wrap_dim

    return _wrap_dim(dim, ndim)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """torch.matmul's decomposition, rank by rank (see ATen's _matmul_impl)."""
    rank_a, rank_b = a.ndim, b.ndim
    if rank_a == 0 or rank_b == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {rank_a}D and {rank_b}D"
        )
    if rank_a == 1 and rank_b == 1:
        if a.shape[0] != b.shape[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                f"[{b.shape[0]}] to have the same number of elements, but got {a.shape[0]} "
                f"and {b.shape[0]} elements respectively"
            )
        return D.dot(a, b)
    if rank_a == 2 and rank_b == 1:
        _check_mm(a.shape, (b.shape[0], 1), a, b, vector=True)
        return D.mv(a, b)
    if rank_a == 1 and rank_b == 2:
        _check_mm((1, a.shape[0]), b.shape, a, b)
        return D.squeeze_dim_inplace(D.mm(a.unsqueeze(0), b), dim=0)
    if rank_a == 2 and rank_b == 2:
        _check_mm(a.shape, b.shape, a, b)
        return D.mm(a, b)
    if rank_a == 3 and rank_b == 3 and a.shape[0] != b.shape[0]:
        # A batch of one that requires grad, against another batch: torch squeezes it away
        # (its gradient then needs no sum over an expanded batch).
        if a.shape[0] == 1 and a.requires_grad:
            return matmul(a.squeeze(0), b)
        if b.shape[0] == 1 and b.requires_grad:
            return matmul(a, b.squeeze(0))
    if _should_fold(a, b):
        return _folded_matmul(a, b)
    return _batched_matmul(a, b)


def _should_fold(a: Tensor, b: Tensor) -> bool:
    larger, smaller = (a, b) if a.ndim >= b.ndim else (b, a)
    if not (larger.ndim >= 3 and smaller.ndim <= 2):
        return False
    if smaller.requires_grad:
        return True
    if a.ndim == 2:
        return False
    if larger.numel() == 0:
        return True
    shape, strides = larger.shape, larger.stride()
    return all(strides[i] == strides[i + 1] * shape[i + 1] for i in range(larger.ndim - 2))


def _folded_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Fold the batch dims of the larger operand into rows and use one mm (or mv)."""
    transpose = b.ndim > a.ndim
    t1 = b.mT if transpose else a
    t2 = (a.t() if a.ndim == 2 else a) if transpose else b
    output_shape = list(t1.shape[:-1])
    folded_rows = math.prod(output_shape)
    if t2.ndim == 2:
        output_shape.append(t2.shape[1])
    folded = t1.reshape(folded_rows, t1.shape[-1])
    if t2.ndim == 2:
        _check_mm(folded.shape, t2.shape, a, b)
        output = D.unsafe_view(D.mm(folded, t2), shape=tuple(output_shape))
        return output.mT.contiguous() if transpose else output
    _check_mm(folded.shape, (t2.shape[0], 1), a, b, vector=True)
    return D.unsafe_view(D.mv(folded, t2), shape=tuple(output_shape))


def _batched_matmul(a: Tensor, b: Tensor) -> Tensor:
    n = a.shape[-2] if a.ndim > 1 else 1
    m1 = a.shape[-1]
    m2 = b.shape[-2] if b.ndim > 1 else b.shape[0]
    p = b.shape[-1] if b.ndim > 1 else 1
    if m1 != m2:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{_batch_count(a, b)}, {m1}] but got: [{_batch_count(a, b)}, {m2}]."
        )
    batch = list(D.broadcast_shape(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    count = math.prod(batch)
    a3 = a.expand(*batch, n, m1).reshape(count, n, m1)
    if b.ndim == 1:
        b3 = b.expand(*batch, m2).reshape(count, m2).unsqueeze(2)
    else:
        b3 = b.expand(*batch, m2, p).reshape(count, m2, p)
    output_shape = batch + ([n] if a.ndim > 1 else []) + ([p] if b.ndim > 1 else [])
    product = D.bmm(a3, b3)
    if b.ndim == 1:
        product = product.squeeze(-1)
    return D.unsafe_view(product, shape=tuple(output_shape))


def _batch_count(a: Tensor, b: Tensor) -> int:
    return math.prod(D.broadcast_shape(tuple(a.shape[:-2]), tuple(b.shape[:-2])))


def _check_mm(
    shape_a: Sequence[int], shape_b: Sequence[int], a: Tensor, b: Tensor, vector: bool = False
) -> None:
    if shape_a[1] != shape_b[0]:
        if vector:
            raise RuntimeError(
                f"size mismatch, got input ({shape_a[0]}), mat ({shape_a[0]}x{shape_a[1]}), "
                f"vec ({shape_b[0]})"
            )
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({shape_a[0]}x{shape_a[1]} and "
            f"{shape_b[0]}x{shape_b[1]})"
        )
