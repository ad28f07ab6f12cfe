"""The backward engine: walks the graph from the roots and runs every node once.

Order, as in torch: a node runs when all gradients flowing into it have arrived (its
dependency count reaches zero); among ready nodes the one created last runs first, and a
leaf's AccumulateGrad runs as soon as it is ready. The walk is iterative, so graph depth
is limited only by memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from refgrad.autograd.grad_mode import set_grad_enabled
from refgrad.autograd.graph import AccumulateGrad, Edge, Grads, GraphRoot, Node, gradient_edge

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
    with set_grad_enabled(create_graph):
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
    buffers: dict[Node, Grads] = {graph_root: []}
    ready: list[tuple[int, int, Node]] = [(0, 0, graph_root)]
    pushed = 0
    while ready:
        node = heapq.heappop(ready)[2]
        grads = _call_tensor_pre_hooks(node, buffers.pop(node))
        if node in task.targets_at:
            _capture(task, node, grads)
        if not _should_run(task, node):
            continue
        grads = _call_pre_hooks(node, grads)
        outputs = node.apply(grads)
        if node._hooks:
            outputs = _call_post_hooks(node, outputs, grads)
        if not task.keep_graph:
            node.release_saved()
        for index, (next_node, input_nr) in enumerate(node.next_functions):
            if next_node is None or (task.needed is not None and next_node not in task.needed):
                continue
            grad = outputs[index] if index < len(outputs) else None
            buffer = buffers.get(next_node)
            if buffer is None:
                buffer = buffers[next_node] = [None] * next_node._num_outputs
            if grad is not None:
                grad = _validate(node, index, grad)
                previous = buffer[input_nr]
                buffer[input_nr] = grad if previous is None else previous + grad
            task.dependencies[next_node] -= 1
            if task.dependencies[next_node] == 0:
                pushed += 1
                heapq.heappush(ready, (-next_node._sequence_nr, pushed, next_node))


def _should_run(task: _GraphTask, node: Node) -> bool:
    if task.needed is None:
        return True
    if isinstance(node, AccumulateGrad):
        return task.accumulate and node in task.targets_at
    # A target's own node runs only if something below it is wanted too.
    return any(child in task.needed for child, _ in node.next_functions if child is not None)


def _capture(task: _GraphTask, node: Node, grads: Grads) -> None:
    for target in task.targets_at[node]:
        target.reached = True
        grad = grads[target.output_nr]
        if grad is None:
            continue
        if task.accumulate:
            if not isinstance(node, AccumulateGrad):  # backward(inputs=[non_leaf])
                _retain(target.tensor, grad)
        else:
            target.captured = grad if target.captured is None else target.captured + grad


def _retain(tensor: Tensor, grad: Tensor) -> None:
    """What retain_grad() does: a new .grad object each backward, never an in-place add."""
    tensor._grad = grad.clone() if tensor._grad is None else tensor._grad + grad


def _call_tensor_pre_hooks(node: Node, grads: Grads) -> Grads:
    if node._tensor_pre_hooks:
        for output_nr, hooks in node._tensor_pre_hooks.items():
            grad = grads[output_nr]
            if grad is None:
                continue
            for hook in tuple(hooks.values()):
                grad = _checked_hook_result(hook, grad, hook(grad))
            grads[output_nr] = grad
    if node._retains_grad:
        for output_nr, tensor_ref in node._retains_grad.items():
            tensor = tensor_ref()
            grad = grads[output_nr]
            if tensor is not None and grad is not None:
                _retain(tensor, grad)
    return grads


def _checked_hook_result(hook: object, grad: Tensor, result: object) -> Tensor:
    from refgrad._tensor import Tensor

    if result is None:
        return grad
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


def _call_pre_hooks(node: Node, grads: Grads) -> Grads:
    if node._pre_hooks:
        for hook in tuple(node._pre_hooks.values()):
            result = hook(tuple(grads))
            if result is not None:
                grads = list(result)
    return grads


def _call_post_hooks(node: Node, outputs: Grads, grads: Grads) -> Grads:
    assert node._hooks is not None
    for hook in tuple(node._hooks.values()):
        result = hook(tuple(outputs), tuple(grads))
        if result is not None:
            outputs = list(result)
    return outputs


def _validate(node: Node, index: int, grad: Tensor) -> Tensor:
    """Reduce a broadcast gradient to the input's shape and cast it to the input's dtype."""
    shape, dtype = node._input_meta[index]
    if grad.shape != shape:
        if not _expandable(shape, grad.shape):
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {index} - got "
                f"{list(grad.shape)} but expected shape compatible with {list(shape)}"
            )
        grad = grad.sum_to_size(shape)
    if grad.dtype is not dtype:
        grad = grad.to(dtype)
    return grad


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(to), strict=False))


__all__ = ["Edge", "run_backward"]
