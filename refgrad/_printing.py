"""Format NumPy arrays exactly as ``repr(torch.Tensor)`` does (torch 2.13, CPU, strided).

The rules mirror ``torch/_tensor_str.py``:

* One element formatter is chosen for the whole tensor, from the elements that will be
  shown, so every element is padded to the same width and columns line up.
* Floats are printed in one of three styles: integer (``1.``), fixed (``0.5000``) or
  scientific (``1.0000e-05``). Values are formatted by Python's own ``format`` from their
  exact value in the tensor's dtype (a float32 0.1 is 0.10000000149011612).
* Tensors with more than ``threshold`` elements are summarised: each axis longer than
  ``2 * edgeitems`` shows only ``edgeitems`` entries at each end around ``...``.
* Suffixes (``size=``, ``dtype=``, autograd) follow the contents, wrapping onto a new line
  when they would not fit in ``linewidth``.

The default dtype is taken to be float32, as in a torch session that never called
``torch.set_default_dtype``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["PrintOptions", "format_tensor", "get_printoptions", "set_printoptions"]

_NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}
_FLOAT_DTYPES = frozenset({"float32", "float64", "float16"})
_DEFAULT_DTYPE = "float32"
# torch leaves out ``dtype=`` for these, as the values themselves reveal the dtype.
# An empty tensor has no values, so there only the default dtype goes unnamed.
_DTYPES_IMPLIED_BY_VALUES = frozenset({_DEFAULT_DTYPE, "int64", "bool"})

_TENSOR_PREFIX = "tensor("
# Every line after the first is indented relative to the end of the prefix.
_INDENT = len(_TENSOR_PREFIX)


@dataclass
class PrintOptions:
    """The knobs of ``torch.set_printoptions``."""

    precision: int = 4
    threshold: float = 1000  # float, because the "full" profile sets it to inf
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None  # None: choose per tensor


_PROFILES: dict[str, PrintOptions] = {
    "default": PrintOptions(),
    "short": PrintOptions(precision=2, edgeitems=2),
    "full": PrintOptions(threshold=math.inf),
}

_options = PrintOptions()


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Change the global print options, with the semantics of ``torch.set_printoptions``.

    A ``profile`` ("default", "short" or "full"; other names are ignored, as in torch)
    resets precision, threshold, edgeitems and linewidth before the explicit arguments
    apply. ``sci_mode`` is always assigned, so leaving it out resets it to automatic.
    """
    global _options
    if profile in _PROFILES:
        base = _PROFILES[profile]
        _options = replace(
            _options,
            precision=base.precision,
            threshold=base.threshold,
            edgeitems=base.edgeitems,
            linewidth=base.linewidth,
        )
    if precision is not None:
        _options.precision = precision
    if threshold is not None:
        _options.threshold = threshold
    if edgeitems is not None:
        _options.edgeitems = edgeitems
    if linewidth is not None:
        _options.linewidth = linewidth
    _options.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current options, as keyword arguments accepted by :func:`set_printoptions`."""
    return asdict(_options)


def format_tensor(array: np.ndarray, *, dtype: str, autograd_suffix: str | None = None) -> str:
    """repr of a tensor holding `array`.

    dtype is one of "float32", "float64", "float16", "int64", "int32", "int16", "int8",
    "uint8", "bool"; `array` is converted to it. autograd_suffix is e.g.
    "requires_grad=True" or "grad_fn=<MulBackward0>" (the caller decides which), or None.
    """
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of {list(_NUMPY_DTYPES)}")
    values = np.asarray(array).astype(_NUMPY_DTYPES[dtype], copy=False)
    options = replace(_options)  # a snapshot, so one repr never sees two settings
    size_suffix = f"size={tuple(values.shape)}"
    dtype_suffix = f"dtype=torch.{dtype}"

    suffixes: list[str] = []
    if values.size == 0:
        body = "[]"
        # Only a 1-D empty tensor's shape is implied by "[]" (NumPy does the same).
        if values.ndim != 1:
            suffixes.append(size_suffix)
        if dtype != _DEFAULT_DTYPE:
            suffixes.append(dtype_suffix)
    else:
        body = _format_contents(values, dtype in _FLOAT_DTYPES, options)
        # With no edge items shown the shape would be lost, so torch states it.
        if not options.edgeitems:
            suffixes.append(size_suffix)
        if dtype not in _DTYPES_IMPLIED_BY_VALUES:
            suffixes.append(dtype_suffix)
    if autograd_suffix is not None:
        suffixes.append(autograd_suffix)
    return _append_suffixes(_TENSOR_PREFIX + body, suffixes, options.linewidth) + ")"


def _format_contents(values: np.ndarray, is_float: bool, options: PrintOptions) -> str:
    """The bracketed contents of a non-empty tensor, without prefix or suffixes."""
    summarize = values.size > options.threshold

    def shown_along(length: int) -> list[int | None]:
        return _shown_indices(length, summarize, options.edgeitems)

    # Choose the formatter from the shown elements only: hidden ones do not widen columns.
    shown_per_axis = [[i for i in shown_along(n) if i is not None] for n in values.shape]
    shown = values[np.ix_(*shown_per_axis)] if values.ndim else values
    formatter: _Formatter = _FloatFormatter(shown, options) if is_float else _PlainFormatter(shown)
    return _format_block(values, _INDENT, shown_along, formatter, options)


def _shown_indices(length: int, summarize: bool, edgeitems: int) -> list[int | None]:
    """Indices shown along an axis of `length`; None marks where ``...`` goes."""
    if not summarize or length <= 2 * edgeitems:
        return list(range(length))
    return [*range(edgeitems), None, *range(length - edgeitems, length)]


class _FloatStyle(Enum):
    INTEGER = "integer"  # every shown value is a whole number: "1.", "-3."
    FIXED = "fixed"  # "0.5000"
    SCIENTIFIC = "scientific"  # "1.0000e-05"


class _FloatFormatter:
    """Formats floats in one style and one width shared by the whole tensor."""

    def __init__(self, shown: np.ndarray, options: PrintOptions) -> None:
        self.precision = options.precision
        self.style = _FloatStyle.INTEGER
        self.width = 1
        flat = shown.reshape(-1)
        # nan, inf and zeros say nothing about magnitude, and torch leaves them out of
        # the width too, so e.g. "-inf" may stick out of an otherwise aligned column.
        informative = flat[np.isfinite(flat) & (flat != 0)]
        if informative.size == 0:
            # Also ignores sci_mode=True: torch returns before looking at it.
            return

        is_integral = bool(np.all(informative == np.ceil(informative)))
        magnitudes = np.abs(informative).astype(np.float64)
        if options.sci_mode is None:
            largest, smallest = float(magnitudes.max()), float(magnitudes.min())
            use_sci = largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
        else:
            use_sci = options.sci_mode

        if use_sci:
            self.style = _FloatStyle.SCIENTIFIC
        elif not is_integral:
            self.style = _FloatStyle.FIXED
        self.width = max(len(self._unpadded(value)) for value in informative.tolist())

    def __call__(self, value: float) -> str:
        return self._unpadded(value).rjust(self.width)

    def _unpadded(self, value: float) -> str:
        if self.style is _FloatStyle.SCIENTIFIC:
            return f"{value:.{self.precision}e}"
        if self.style is _FloatStyle.FIXED:
            return f"{value:.{self.precision}f}"
        # The trailing "." marks a float tensor; nan and inf are recognisable without it.
        return f"{value:.0f}" + ("." if math.isfinite(value) else "")


class _PlainFormatter:
    """Integers and bools: ``str`` of each value, right-aligned to a shared width."""

    def __init__(self, shown: np.ndarray) -> None:
        self.width = max([1, *(len(str(value)) for value in shown.reshape(-1).tolist())])

    def __call__(self, value: int) -> str:  # bools are ints too
        return str(value).rjust(self.width)


_Formatter = _FloatFormatter | _PlainFormatter


def _format_block(
    block: np.ndarray,
    indent: int,
    shown_along: Callable[[int], list[int | None]],
    formatter: _Formatter,
    options: PrintOptions,
) -> str:
    """Format `block`, whose opening bracket sits at column `indent`."""
    if block.ndim == 0:
        return formatter(block.item())
    if block.ndim == 1:
        return _format_row(block, indent, shown_along, formatter, options)
    parts = [
        "..." if i is None else _format_block(block[i], indent + 1, shown_along, formatter, options)
        for i in shown_along(block.shape[0])
    ]
    # Sub-blocks align under the inner bracket; each extra dimension adds a blank line.
    separator = "," + "\n" * (block.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(parts) + "]"


def _format_row(
    row: np.ndarray,
    indent: int,
    shown_along: Callable[[int], list[int | None]],
    formatter: _Formatter,
    options: PrintOptions,
) -> str:
    """Format a 1-D row, wrapping it over several lines to fit `linewidth`."""
    # torch writes the gap as " ..." between edge items, and as a bare "..." when there
    # are none; joined by ", " the former gives the familiar "2,  ..., 7".
    gap = " ..." if options.edgeitems else "..."
    cells = [gap if i is None else formatter(row[i].item()) for i in shown_along(len(row))]
    # Wrapping assumes every cell is exactly `width` wide plus ", ".
    per_line = max(1, (options.linewidth - indent) // (formatter.width + 2))
    lines = [", ".join(cells[start : start + per_line]) for start in range(0, len(cells), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _append_suffixes(text: str, suffixes: list[str], linewidth: int) -> str:
    """Append ", suffix" for each suffix, moving one to a new line if it would not fit."""
    # torch counts the text's last line as 2 characters longer than it is, but lines that
    # start with a suffix exactly. Reproducing this keeps the line breaks identical.
    line_length = len(text.rsplit("\n", 1)[-1]) + 2
    pieces = [text]
    for suffix in suffixes:
        if line_length + len(suffix) + 2 > linewidth:
            pieces.append(",\n" + " " * _INDENT + suffix)
            line_length = _INDENT + len(suffix)
        else:
            pieces.append(", " + suffix)
            line_length += len(suffix) + 2
    return "".join(pieces)
