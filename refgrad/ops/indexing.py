"""``tensor[index]`` and ``tensor[index] = value``, decomposed the way torch does it.

Basic entries (ints, slices, None, Ellipsis) become views one dim at a time — select,
slice, unsqueeze — so ``x[0]`` has a ``SelectBackward0`` and ``x[:, 1:]`` a
``SliceBackward0``. Whatever advanced entries remain (integer or bool tensors, lists)
are then applied in one ``index`` op (``IndexBackward0``). Note torch applies an int
*before* the advanced entries, so ``y[0, :, [0, 1]]`` has shape ``(3, 2)`` for a
``(2, 3, 4)`` tensor, where NumPy would give ``(2, 3)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from refgrad import _dtypes
from refgrad._factories import _infer_dtype
from refgrad._tensor import Tensor, _expanded_shape
from refgrad.autograd import inplace
from refgrad.ops import derivatives as D
from refgrad.ops.inplace import apply_inplace

_FULL = slice(None)


def getitem(t: Tensor, index: Any) -> Tensor:
    if index is Ellipsis:
        return D.alias(t)
    if isinstance(index, slice):  # a lone slice is a view even when it selects everything
        return _slice(t, 0, index, keep_full=True)
    view, advanced, _ = _apply_basic(t, index)
    if advanced is None:
        return view if view is not t else D.alias(t)
    return D.index(view, indices=advanced)


def setitem(t: Tensor, index: Any, value: Any) -> None:
    # torch converts the value first, then takes shortcuts for a lone (untupled) bool.
    if not isinstance(value, Tensor):
        if not isinstance(value, bool | int | float | np.number | np.bool_):
            raise TypeError(
                f"can't assign a {_type_name(value)} to a torch.{t.dtype.legacy_type_name}"
            )
        value = Tensor._from_array(np.asarray(value, dtype=t._dtype.numpy))
    if index is False:
        return  # nothing is written or checked, not even the value's shape
    if index is True:
        index = None  # a copy into t.unsqueeze(0), with no index tensor at all
    view, advanced, one_mask = _apply_basic(t, index)
    if advanced is None:
        _copy_to(view, value)
        return
    leading_ones = next((i for i, n in enumerate(value.shape) if n != 1), value.ndim)
    if leading_ones:
        value = value.view(value.shape[leading_ones:])  # torch strips them before index_put_
    # One bool mask and a one-element value: torch's index_put_ runs masked_fill_ with the
    # value's number, so the value may overlap the tensor written to.
    op = D.index_put_as_masked_fill if one_mask and value.numel() == 1 else D.index_put
    apply_inplace(op, view, (value,), {"indices": advanced, "accumulate": False})


def _copy_to(destination: Tensor, value: Tensor) -> None:
    """torch's setitem: copy_ when the shapes match, fill_ from a 0-dim value, else expand."""
    if value.shape == destination.shape:
        destination.copy_(value)
    elif destination._is_zero_tensor:
        raise RuntimeError(inplace.ZERO_TENSOR_COPY)  # torch's setitem checks as copy_ does
    elif value.ndim == 0:
        destination.fill_(value)
    else:
        leading_ones = next((i for i, n in enumerate(value.shape) if n != 1), value.ndim)
        value = value.view(value.shape[leading_ones:])
        _expanded_shape(value, destination.shape)  # torch expands the value: its error
        destination.copy_(value.expand(destination.shape))


def _apply_basic(t: Tensor, index: Any) -> tuple[Tensor, tuple[Any, ...] | None, bool]:
    """Apply the basic entries as views; return the view, the advanced indices left, and
    whether those are exactly one bool mask (index_put_ then acts as masked_fill_)."""
    entries = _expand_ellipsis(_as_tuple(index), t.ndim)
    view = t
    dim = 0  # the dim of `view` the next entry applies to
    advanced: list[Any] = []
    masks = others = 0  # advanced entries that are bool masks, and that are not
    for entry in entries:
        if entry is None:
            view = view.unsqueeze(dim)
            advanced.append(_FULL)
            dim += 1
        elif _is_bool_scalar(entry):
            # True / False: a new dim of size 1, kept or emptied by an advanced index.
            view = view.unsqueeze(dim)
            advanced.append(np.arange(1 if bool(entry) else 0))
            others += 1
            dim += 1
        elif isinstance(entry, int) or _is_integer_scalar(entry):
            view = view.select(dim, _checked_index(int(entry), view.shape[dim], dim))
        elif isinstance(entry, slice):
            view = _slice(view, dim, entry, keep_full=False)
            advanced.append(_FULL)
            dim += 1
        else:
            indices, is_mask = _advanced_index(entry, view.shape, dim)
            advanced.extend(indices)
            masks, others = masks + is_mask, others + (not is_mask)
            dim += len(indices)
    if all(a is _FULL for a in advanced):
        return view, None, False
    return view, tuple(advanced), masks == 1 and others == 0


def _as_tuple(index: Any) -> tuple[Any, ...]:
    if isinstance(index, tuple):
        return index
    if isinstance(index, list) and len(index) < 32 and any(map(_is_index_like, index)):
        # NumPy's legacy rule, kept by torch: x[[[0, 1], [1, 0]]] means x[[0, 1], [1, 0]].
        warnings.warn(LIST_AS_TUPLE_WARNING, UserWarning, stacklevel=5)
        return tuple(index)
    return (index,)


LIST_AS_TUPLE_WARNING = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed "
    "in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be "
    "interpreted as tensor index, x[torch.tensor(seq)], which will result either in an error or "
    "a different result"
)


def _is_index_like(item: Any) -> bool:
    return isinstance(item, Tensor | Sequence | slice) or item is None or item is Ellipsis


def _consumed_dims(entry: Any) -> int:
    if entry is None or entry is Ellipsis or _is_bool_scalar(entry):
        return 0
    if isinstance(entry, Tensor) and entry._dtype is _dtypes.bool_:
        return max(entry.ndim, 1)
    if isinstance(entry, np.ndarray) and entry.dtype == np.bool_:
        return max(entry.ndim, 1)
    return 1


def _expand_ellipsis(entries: tuple[Any, ...], ndim: int) -> tuple[Any, ...]:
    consumed = sum(_consumed_dims(e) for e in entries)
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    # Identity, not `in`: `==` on a tensor entry would compare elementwise.
    at = next((i for i, e in enumerate(entries) if e is Ellipsis), None)
    if at is None:
        return entries
    return entries[:at] + (_FULL,) * (ndim - consumed) + entries[at + 1 :]


def _is_bool_scalar(entry: Any) -> bool:
    if isinstance(entry, Tensor):
        return entry.ndim == 0 and entry._dtype is _dtypes.bool_
    return isinstance(entry, bool)


def _is_integer_scalar(entry: Any) -> bool:
    if isinstance(entry, Tensor):
        return (
            entry.ndim == 0
            and not entry._dtype.is_floating_point
            and entry._dtype is not _dtypes.bool_
        )
    return isinstance(entry, np.integer)


def _checked_index(index: int, size: int, dim: int) -> int:
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for dimension {dim} with size {size}")
    return index


def _slice(t: Tensor, dim: int, entry: slice, keep_full: bool) -> Tensor:
    if entry.step is not None and entry.step <= 0:
        raise ValueError("step must be greater than zero")
    size = t.shape[dim]
    start, stop, step = entry.indices(size)
    stop = max(stop, start)
    if not keep_full and (start, stop, step) == (0, size, 1):
        return t  # torch skips `:` inside a tuple index
    return D.slice_dim(t, dim=dim, start=start, stop=stop, step=step)


def _advanced_index(entry: Any, shape: tuple[int, ...], dim: int) -> tuple[list[Any], bool]:
    """NumPy index arrays for one advanced entry (a bool mask covers several dims), and
    whether the entry was a bool mask."""
    if isinstance(entry, Tensor):
        array = entry._array
    elif not isinstance(entry, Sequence | np.ndarray):
        raise IndexError(
            "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
            f"valid indices (got {_type_name(entry)})"
        )
    else:
        # A list becomes a bool mask or, whatever its numbers, an int64 index (as in torch).
        is_mask = _infer_dtype(entry) is _dtypes.bool_ and len(entry) > 0
        array = np.asarray(entry, dtype=np.bool_ if is_mask else None).astype(
            np.bool_ if is_mask else np.int64
        )
    if array.dtype == np.bool_:
        mask_shape = shape[dim : dim + array.ndim]
        if array.shape != mask_shape:
            raise IndexError(
                f"The shape of the mask {list(array.shape)} at index {dim} does not match the "
                f"shape of the indexed tensor {list(shape)} at index {dim}"
            )
        return list(np.nonzero(array)), True
    if array.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    # Bounds are checked by the index op, as torch's kernel reads the broadcast indices.
    return [array.astype(np.int64)], False


def _type_name(value: Any) -> str:
    """A type as Python's C API names it: 'float', 'list', 'numpy.ndarray'."""
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
