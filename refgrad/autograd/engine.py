"""The backward engine: walks the graph from the roots and runs every node once.

Order, as in torch: a node runs when all gradients flowing into it have arrived (its
dependency count reaches zero); among ready nodes the one created last runs first, and a
leaf's AccumulateGrad runs as soon as it is ready. The walk is iterative, so graph depth
is limited only by memory.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad.autograd.grad_array import GradArray, from_tensor, to_tensor
from refgrad.autograd.grad_mode import set_grad_enabled
from refgrad.autograd.graph import AccumulateGrad, Edge, GraphRoot, Node, gradient_edge

if TYPE_CHECKING:
    from refgrad._tensor import Tensor


@dataclass
class _Target:
    """A tensor whose gradient the caller wants: captured (grad) or accumulated (backward)."""

    index: int
    tensor: Tensor
    node: Node
    output_nr: int
    captured: Tensor | None = None
    reached: bool = False


@dataclass
class _GraphTask:
    keep_graph: bool
    create_graph: bool
    accumulate: bool  # backward(): leaves accumulate into .grad; grad(): results are captured
    targets: list[_Target] = field(default_factory=list)
    dependencies: dict[Node, int] = field(default_factory=dict)
    # None: every reachable node runs. Otherwise only nodes leading to a target run.
    needed: set[Node] | None = None
    targets_at: dict[Node, list[_Target]] = field(default_factory=dict)
    # Gradients something besides the engine refers to (the root gradients, which the
    # caller holds; one a hook kept): AccumulateGrad must not steal them.
    held: list[Any] = field(default_factory=list)

    @property
    def arrays(self) -> bool:
        """Without create_graph, gradients flow as GradArrays (see grad_array.py)."""
        return not self.create_graph

    def to_user(self, grad: Any) -> Any:
        """What hooks, .grad and autograd.grad see: always a Tensor."""
        return to_tensor(grad) if self.arrays and grad is not None else grad

    def from_user(self, grad: Any) -> Any:
        return from_tensor(grad) if self.arrays else grad


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    *,
    keep_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] = (),
    accumulate: bool = True,
) -> list[_Target]:
    """Backpropagate root_grads from roots; returns the targets made from `inputs`."""
    graph_root = GraphRoot(roots, list(root_grads))
    task = _GraphTask(keep_graph, create_graph, accumulate)
    task.dependencies = _count_dependencies(graph_root)
    if inputs:
        _mark_targets(task, graph_root, inputs)
    # Formulas on GradArrays are plain NumPy: silence its FP warnings as torch has none.
    with set_grad_enabled(create_graph), np.errstate(all="ignore"):
        _execute(task, graph_root)
    return task.targets


def _count_dependencies(graph_root: Node) -> dict[Node, int]:
    dependencies: dict[Node, int] = {}
    seen = {graph_root}
    stack = [graph_root]
    while stack:
        node = stack.pop()
        for next_node, _ in node.next_functions:
            if next_node is None:
                continue
            dependencies[next_node] = dependencies.get(next_node, 0) + 1
            if next_node not in seen:
                seen.add(next_node)
                stack.append(next_node)
    return dependencies


def _mark_targets(task: _GraphTask, graph_root: Node, inputs: Sequence[Tensor]) -> None:
    """Restrict execution to the nodes that lead to one of `inputs`."""
    for index, tensor in enumerate(inputs):
        node, output_nr = gradient_edge(tensor)
        if node is None:
            continue
        target = _Target(index, tensor, node, output_nr)
        task.targets.append(target)
        task.targets_at.setdefault(node, []).append(target)
    # leads[n]: some target is n or below n. Computed children-first, without recursion.
    leads: dict[Node, bool] = {}
    stack: list[tuple[Node, bool]] = [(graph_root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            leads[node] = node in task.targets_at or any(
                leads.get(child, False) for child, _ in node.next_functions if child is not None
            )
            continue
        if node in leads:
            continue
        stack.append((node, True))
        stack.extend(
            (child, False)
            for child, _ in node.next_functions
            if child is not None and child not in leads
        )
    task.needed = {node for node, leads_to_target in leads.items() if leads_to_target}


def _execute(task: _GraphTask, graph_root: Node) -> None:
    buffers: dict[Node, list[Any]] = {graph_root: []}
    ready: list[tuple[int, int, Node]] = [(0, 0, graph_root)]
    pushed = 0
    arrays = task.arrays
    # torch runs one root's node as the graph's root (no dummy node above it): it is
    # visited, so its tensor hooks run, even when autograd.grad does not need it.
    single_root = len(graph_root.next_functions) == 1
    while ready:
        node = heapq.heappop(ready)[2]
        grads = buffers.pop(node)
        if node._tensor_pre_hooks or node._retains_grad:
            grads = _call_tensor_pre_hooks(task, node, grads)
        if node in task.targets_at:
            _capture(task, node, grads)
        if not _should_run(task, node):
            continue
        if node._pre_hooks:
            grads = _call_pre_hooks(task, node, grads)
        if arrays and isinstance(node, AccumulateGrad) and grads[0] is not None:
            grads = _unless_held(grads, buffers, task.held)
        outputs = node.apply_arrays(grads) if arrays else node.apply(grads)
        if node is graph_root and arrays:
            task.held.extend(outputs)  # the caller's (see _unless_held)
        if node._hooks:
            outputs = _call_post_hooks(task, node, outputs, grads)
        if not task.keep_graph:
            node.release_saved()
        for index, (next_node, input_nr) in enumerate(node.next_functions):
            if next_node is None or (
                task.needed is not None
                and next_node not in task.needed
                and not (single_root and node is graph_root)
            ):
                continue
            grad = outputs[index] if index < len(outputs) else None
            buffer = buffers.get(next_node)
            if buffer is None:
                buffer = buffers[next_node] = [None] * next_node._num_outputs
            if grad is not None:
                grad = _validate(node, index, _as_array(grad) if arrays else grad)
                previous = buffer[input_nr]
                # (of two ZeroTensors, the sum is one: their types' `+` sees to it)
                buffer[input_nr] = grad if previous is None else previous + grad
            task.dependencies[next_node] -= 1
            if task.dependencies[next_node] == 0:
                pushed += 1
                heapq.heappush(ready, (-next_node._sequence_nr, pushed, next_node))


def _unless_held(grads: list[Any], buffers: dict[Node, list[Any]], held: list[Any]) -> list[Any]:
    """AccumulateGrad steals a gradient nothing else refers to (torch checks its use count):
    stores it as .grad without a copy, so a view shares memory with whatever it views. A
    gradient another node's pending input also holds (x + y sends one gradient to both), a
    root gradient or one a hook kept is copied instead: a copy of a ZeroTensor is plain."""
    grad = grads[0]
    if any(g is grad for g in held) or any(
            g is grad for pending in buffers.values() for g in pending):
        return [np.array(grad, copy=True).view(GradArray)]
    return grads


def _as_array(grad: Any) -> GradArray:
    """A formula's result as a GradArray (formulas may mix in Tensors or NumPy scalars)."""
    if isinstance(grad, GradArray):  # a ZeroGradArray stays one
        return grad
    return from_tensor(grad) if hasattr(grad, "_array") else np.asarray(grad).view(GradArray)


def _should_run(task: _GraphTask, node: Node) -> bool:
    if task.needed is None or isinstance(node, GraphRoot):
        return True
    if task.accumulate and node in task.targets_at:
        return True  # backward(inputs=...): a target's own node runs (torch marks it needed)
    if isinstance(node, AccumulateGrad):
        return False
    # For autograd.grad, a target's own node runs only if something below it is wanted too.
    return any(child in task.needed for child, _ in node.next_functions if child is not None)


def _capture(task: _GraphTask, node: Node, grads: list[Any]) -> None:
    for target in task.targets_at[node]:
        target.reached = True
        grad = grads[target.output_nr]
        if grad is None:
            continue
        if not task.accumulate:  # backward(inputs=...) lets AccumulateGrad / retain_grad act
            grad = task.to_user(grad)
            target.captured = grad if target.captured is None else target.captured + grad


def _retain(tensor: Tensor, grad: Tensor) -> None:
    """What retain_grad() does: a new .grad object each backward, never an in-place add."""
    tensor._grad = grad.clone() if tensor._grad is None else tensor._grad + grad


def _call_tensor_pre_hooks(task: _GraphTask, node: Node, grads: list[Any]) -> list[Any]:
    if node._tensor_pre_hooks:
        for output_nr, hooks in node._tensor_pre_hooks.items():
            # A hook runs whenever its node does, even on an output that got no gradient
            # (the other half of an unbind): it sees None, and must leave it None.
            if not hooks:
                continue
            grad = task.to_user(grads[output_nr])
            for hook in tuple(hooks.values()):
                grad = _checked_hook_result(hook, grad, hook(grad))
            grads[output_nr] = None if grad is None else task.from_user(grad)
            # Referred to by more than `grad` and getrefcount's argument: a hook kept it.
            if grad is not None and task.arrays and sys.getrefcount(grad) > 2:
                task.held.append(grads[output_nr])
    if node._retains_grad:
        for output_nr, tensor_ref in node._retains_grad.items():
            tensor = tensor_ref()
            if tensor is not None and grads[output_nr] is not None:
                _retain(tensor, task.to_user(grads[output_nr]))
    return grads


def _checked_hook_result(hook: object, grad: Tensor | None, result: object) -> Tensor | None:
    from refgrad._tensor import Tensor

    if result is None:
        return grad
    if grad is None:
        raise RuntimeError("can't replace a None gradient with a non-None value")
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(result, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    if result.shape != grad.shape:
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    if result.dtype is not grad.dtype:
        raise RuntimeError(
            f"hook '{name}' has changed the type of value (was "
            f"torch.{grad.dtype.legacy_type_name} got torch.{result.dtype.legacy_type_name})"
        )
    return result


def _call_pre_hooks(task: _GraphTask, node: Node, grads: list[Any]) -> list[Any]:
    assert node._pre_hooks is not None
    for hook in tuple(node._pre_hooks.values()):
        result = hook(tuple(task.to_user(g) for g in grads))
        if result is not None:
            grads = [task.from_user(g) for g in result]
    return grads


def _call_post_hooks(
    task: _GraphTask, node: Node, outputs: list[Any], grads: list[Any]
) -> list[Any]:
    assert node._hooks is not None
    for hook in tuple(node._hooks.values()):
        result = hook(
            tuple(task.to_user(g) for g in outputs), tuple(task.to_user(g) for g in grads)
        )
        if result is not None:
            outputs = [task.from_user(g) for g in result]
    return outputs


def _validate(node: Node, index: int, grad: Any) -> Any:
    """Reduce a broadcast gradient to the input's shape and cast it to the input's dtype."""
    shape, dtype = node._input_meta[index]
    if grad.shape != shape:
        if not _expandable(shape, grad.shape):
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {index} - got "
                f"{list(grad.shape)} but expected shape compatible with {list(shape)}"
            )
        grad = grad.sum_to_size(shape)
    # A cast materializes a ZeroTensor (torch's `to` has no ZeroTensor kernel).
    if isinstance(grad, GradArray):
        return grad if grad.dtype == dtype.numpy else grad.astype(dtype.numpy).view(GradArray)
    return grad if grad.dtype is dtype else grad.to(dtype)


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(to), strict=False))


__all__ = ["Edge", "run_backward"]
