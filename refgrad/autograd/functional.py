"""``backward`` and ``grad``: checking the arguments, then running the engine.

The argument handling mirrors torch's Python layer (torch/autograd/__init__.py), which is
where many of the errors a user meets come from: a non-scalar output without a gradient,
a gradient of the wrong shape or type, an input that does not require grad.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refgrad.autograd.engine import run_backward

TensorOrTensors = Any  # a Tensor or a sequence of Tensors


def _as_tuple(value: TensorOrTensors) -> tuple[Any, ...]:
    from refgrad._tensor import Tensor

    return (value,) if isinstance(value, Tensor) else tuple(value)


def _grads_tuple(grads: Any, count: int) -> tuple[Any, ...]:
    from refgrad._tensor import Tensor

    if grads is None:
        return (None,) * count
    if isinstance(grads, Tensor):
        return (grads,)
    return tuple(grads)  # a Python float fails here, as in torch: 'float' is not iterable


def _make_grads(outputs: Sequence[Any], grads: Sequence[Any]) -> list[Any]:
    """Check user-given output gradients; create implicit ones for scalar outputs."""
    from refgrad._factories import ones_like
    from refgrad._tensor import Tensor

    made: list[Any] = []
    for i, (out, grad) in enumerate(zip(outputs, grads, strict=False)):
        if isinstance(grad, Tensor):
            if grad.shape != out.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {grad.shape} and "
                    f"output[{i}] has a shape of {out.shape}."
                )
            made.append(grad)
        elif grad is None:
            if out.requires_grad:
                if out.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                made.append(ones_like(out))
            else:
                made.append(None)
        else:
            raise TypeError(
                f"gradients can be either Tensors or None, but got {type(grad).__name__}"
            )
    return made


def _check_roots(outputs: Sequence[Any]) -> None:
    from refgrad.autograd.graph import gradient_edge

    for i, out in enumerate(outputs):
        # Not `requires_grad`: a view made in no_grad requires grad yet has nowhere to send it.
        if gradient_edge(out)[0] is None:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )


def backward(
    tensors: TensorOrTensors,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: Any = None,
    inputs: TensorOrTensors | None = None,
) -> None:
    """Accumulate d(tensors)/d(leaf) into every reachable leaf's ``.grad``."""
    if inputs is not None and len(_as_tuple(inputs)) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = _as_tuple(tensors)
    wanted = _as_tuple(inputs) if inputs is not None else ()
    grads = _make_grads(outputs, _grads_tuple(grad_tensors, len(outputs)))
    _check_roots(outputs)
    for t in wanted:
        # A non-leaf input keeps its gradient from now on, as with retain_grad().
        t.retain_grad()
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        import warnings

        warnings.warn(CREATE_GRAPH_WARNING, UserWarning, stacklevel=3)
    run_backward(outputs, grads, keep_graph=retain_graph, create_graph=create_graph, inputs=wanted)


CREATE_GRAPH_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this function, "
    "make sure to reset the .grad fields of your parameters to None after use to break the "
    "cycle and avoid the leak."
)


def grad(
    outputs: TensorOrTensors,
    inputs: TensorOrTensors,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Any, ...]:
    """d(outputs)/d(inputs), returned rather than accumulated into ``.grad``."""
    from refgrad._factories import zeros_like

    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    if is_grads_batched:
        raise NotImplementedError("refgrad does not support is_grads_batched")
    roots = _as_tuple(outputs)
    wanted = _as_tuple(inputs)
    if not wanted:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = _make_grads(roots, _grads_tuple(grad_outputs, len(roots)))
    _check_roots(roots)
    for t in wanted:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    targets = run_backward(
        roots,
        grads,
        keep_graph=retain_graph,
        create_graph=create_graph,
        inputs=wanted,
        accumulate=False,
    )
    results: list[Any] = [None] * len(wanted)
    reached = [False] * len(wanted)
    for target in targets:
        results[target.index] = target.captured
        reached[target.index] = target.reached and target.captured is not None
    for index, was_reached in enumerate(reached):
        if not was_reached and not allow_unused:
            raise RuntimeError(
                f"The differentiated Tensor at index {index} appears to not have been used in "
                "the graph. Set allow_unused=True if this is the desired behavior."
            )
    if materialize_grads:
        results = [
            r if r is not None else zeros_like(t, requires_grad=create_graph)
            for r, t in zip(results, wanted, strict=True)
        ]
    return tuple(results)
