"""gradcheck: compare refgrad's backward formulas with finite differences.

For every input that requires grad and every element of every differentiable output,
the analytical Jacobian (built row by row from vector-Jacobian products, i.e. from the
backward formulas) must match the numerical one, built column by column from central
differences ``(f(x + eps) - f(x - eps)) / (2 * eps)``. This knows nothing of torch: it is
an oracle for the op table that needs only arithmetic.

The layout and the messages are torch.autograd.gradcheck's: the Jacobian for input ``j``
and output ``i`` has one row per input element and one column per output element.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from refgrad import _dtypes
from refgrad._tensor import Tensor
from refgrad.autograd.functional import grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the Jacobians disagree (torch's class of the same name)."""


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """True if ``func``'s analytical and numerical Jacobians agree at ``inputs``.

    >>> x = refgrad.tensor([1.0, 2.0], dtype=refgrad.float64, requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), (x,))
    True

    Agreement is ``|analytical - numerical| <= atol + rtol * |numerical|`` elementwise.
    The backward must also be deterministic (two runs give identical Jacobians).
    """
    args = inputs if isinstance(inputs, tuple | list) else (inputs,)
    wrt = _inputs_requiring_grad(args)
    outputs = _as_outputs(func(*args))
    differentiable = [o for o in outputs if o.requires_grad]
    try:
        numerical = _numerical_jacobians(func, args, wrt, eps)
        if not differentiable:
            _check_all_zero(numerical)
            return True
        # torch skips outputs that do not require grad when some other output does.
        numerical = [numerical[k] for k, o in enumerate(outputs) if o.requires_grad]
        for i, output in enumerate(differentiable):
            analytical = _analytical_jacobians(output, [args[j] for j in wrt])
            for j, (a, n) in enumerate(zip(analytical, numerical[i], strict=True)):
                if not _allclose(a, n, rtol, atol):
                    raise GradcheckError(
                        f"Jacobian mismatch for output {i:d} with respect to input {j:d},\n"
                        f"numerical:{_as_tensor(n)}\nanalytical:{_as_tensor(a)}\n"
                    )
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _inputs_requiring_grad(args: Sequence[Any]) -> list[int]:
    wrt = []
    for index, arg in enumerate(args):
        if isinstance(arg, Tensor) and arg.requires_grad:
            if arg.dtype is not _dtypes.float64:
                warnings.warn(
                    f"Input #{index} requires gradient and is not a double precision floating "
                    "point or complex. This check will likely fail if all the inputs are not "
                    "of double precision floating point or complex. ",
                    UserWarning,
                    stacklevel=3,
                )
            strides = zip(arg.stride(), arg.shape, strict=True)
            if arg.numel() and any(st == 0 and sz > 1 for st, sz in strides):
                raise RuntimeError(
                    f"The {index}th input has a dimension with stride 0. gradcheck only "
                    "supports inputs that are non-overlapping to be able to compute the "
                    "numerical gradients correctly. You should call .contiguous on the input "
                    "before passing it to gradcheck."
                )
            wrt.append(index)
    if not wrt:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of "
            "them have requires_grad=True."
        )
    return wrt


def _as_outputs(result: Any) -> list[Tensor]:
    """The floating-point tensors among func's outputs (others have no Jacobian)."""
    outputs = result if isinstance(result, tuple | list) else (result,)
    return [o for o in outputs if isinstance(o, Tensor) and o.is_floating_point()]


def _numerical_jacobians(
    func: Callable[..., Any], args: Sequence[Any], wrt: list[int], eps: float
) -> list[list[np.ndarray]]:
    """[output][input] -> (input.numel(), output.numel()) central-difference Jacobian."""

    def evaluate(position: int, values: np.ndarray) -> list[np.ndarray]:
        # A fresh leaf that requires grad, as the input did: func may register hooks on it.
        moved = list(args)
        moved[position] = Tensor._from_array(values).requires_grad_()
        outputs = _as_outputs(func(*moved))
        return [o._array.astype(np.float64).reshape(-1) for o in outputs]

    output_sizes = [o.size for o in evaluate(wrt[0], args[wrt[0]]._array.copy())]
    jacobians = [[np.zeros((args[j].numel(), n)) for j in wrt] for n in output_sizes]
    for j, position in enumerate(wrt):
        base = np.array(args[position]._array)  # a private copy to perturb
        for flat_index in range(base.size):
            plus, minus = base.copy(), base.copy()
            plus.reshape(-1)[flat_index] += eps
            minus.reshape(-1)[flat_index] -= eps
            pairs = zip(evaluate(position, plus), evaluate(position, minus), strict=True)
            for k, (f_plus, f_minus) in enumerate(pairs):
                with np.errstate(all="ignore"):
                    jacobians[k][j][flat_index] = (f_plus - f_minus) / (2 * eps)
    return jacobians


def _analytical_jacobians(output: Tensor, wrt: list[Tensor]) -> list[np.ndarray]:
    """Row r of the Jacobian for input j is d(output.flat[r]) / d(input j), via backward."""
    first = _vjp_rows(output, wrt)
    second = _vjp_rows(output, wrt)
    for a, b in zip(first, second, strict=True):
        if not np.array_equal(a, b, equal_nan=True):
            raise GradcheckError(
                "Backward is not reentrant, i.e., running backward with same input and "
                "grad_output multiple times gives different values, although analytical "
                "gradient matches numerical gradient.The tolerance for nondeterminism was 0.0."
            )
    return [rows.T for rows in first]


def _vjp_rows(output: Tensor, wrt: list[Tensor]) -> list[np.ndarray]:
    """[input] -> (output.numel(), input.numel()): one backward per output element."""
    rows: list[list[np.ndarray]] = [[] for _ in wrt]
    for flat_index in range(output.numel()):
        one_hot = np.zeros(output.numel(), dtype=output.dtype.numpy)
        one_hot[flat_index] = 1
        grads = grad(
            output,
            wrt,
            Tensor._from_array(one_hot.reshape(output.shape)),
            retain_graph=True,
            allow_unused=True,
        )
        for j, (g, t) in enumerate(zip(grads, wrt, strict=True)):
            if g is None:
                rows[j].append(np.zeros(t.numel()))
                continue
            if g.shape != t.shape:
                raise GradcheckError("Analytical gradient has incorrect size")
            rows[j].append(g._array.astype(np.float64).reshape(-1))
    return [np.stack(r) if r else np.zeros((0, t.numel())) for r, t in zip(rows, wrt, strict=True)]


def _allclose(analytical: np.ndarray, numerical: np.ndarray, rtol: float, atol: float) -> bool:
    # torch.allclose: nan never matches, not even nan.
    return bool(np.allclose(analytical, numerical, rtol=rtol, atol=atol, equal_nan=False))


def _check_all_zero(numerical: list[list[np.ndarray]]) -> None:
    if any(np.any(jac != 0) for per_output in numerical for jac in per_output):
        raise GradcheckError("Numerical gradient for function expected to be zero")


def _as_tensor(jacobian: np.ndarray) -> Tensor:
    return Tensor._from_array(np.ascontiguousarray(jacobian))
