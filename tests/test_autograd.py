"""Autograd semantics, each a small scenario run under torch and under refgrad.

Read a scenario as an example of torch's behaviour; the test checks refgrad shows the same
values, flags, grad_fn names and errors. Grouped as in the reference notes:
leaves and requires_grad, backward and autograd.grad, accumulation, grad modes,
detach / .data / in-place and versions, hooks, higher order.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import pytest
import torch

import refgrad
from conformance.compare import normalise_message
from tests.differential import Scenario, check

nan = float("nan")

SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def leaf(t: ModuleType, values: Any = (1.0, 2.0, 3.0), **kwargs: Any) -> Any:
    return t.tensor(list(values), requires_grad=True, **kwargs)


# -- leaves, requires_grad, grad_fn --------------------------------------------------------


@scenario
def leaf_flags(t: ModuleType) -> Any:
    x = leaf(t)
    c = t.tensor([1.0, 2.0])
    return [x, c, x.is_leaf, c.is_leaf, x.grad_fn, x.grad]


@scenario
def op_results_require_grad_if_any_input_does(t: ModuleType) -> Any:
    x, c = leaf(t), t.tensor([4.0, 5.0, 6.0])
    return [x * 2, c * 2, x + c, c + x, t.cat([x, c[:2]]), x > 1, x.argmax()]


@scenario
def non_differentiable_points_still_have_nodes(t: ModuleType) -> Any:
    x = leaf(t, (0.4, 1.6, -2.5))
    outs = [x.floor(), x.sign(), x.round(), x.ceil()]
    t.stack(outs).sum().backward()
    return [*outs, x.grad]


@scenario
def outer_views_only_its_first_vector(t: ModuleType) -> Any:
    # torch composes outer as self.reshape(n, 1) * vec2.
    o = t.outer(leaf(t), leaf(t, (4.0, 5.0)))
    return [o, [type(node).__name__ for node, _ in o.grad_fn.next_functions]]


@scenario
def conversions(t: ModuleType) -> Any:
    x = leaf(t)
    return [x.double(), x.float() is x, x.to(t.float32) is x, x.contiguous() is x, x.clone()]


@scenario
def like_factories_do_not_require_grad(t: ModuleType) -> Any:
    x = leaf(t)
    return [t.zeros_like(x), t.ones_like(x), x.new_ones(2), t.empty_like(x).shape]


@scenario
def detach_makes_a_leaf(t: ModuleType) -> Any:
    x = leaf(t)
    d = x.detach()
    return [d, d.is_leaf, d.requires_grad]


@scenario
def retain_grad_on_non_leaf(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    return [y.grad, x.grad, y.retains_grad, x.retains_grad]


@scenario
def retain_grad_accumulates_into_new_objects(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    y.retain_grad()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    first = y.grad
    z.backward()
    return [first, y.grad, first is y.grad]


@scenario
def retain_grad_on_a_slice(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    v = y[1:]
    v.retain_grad()
    (y * y).sum().backward()
    return v.grad


@scenario
def retain_grad_errors_without_grad(t: ModuleType) -> Any:
    t.tensor([1.0]).retain_grad()


@scenario
def retain_grad_on_a_leaf_is_a_no_op(t: ModuleType) -> Any:
    x = leaf(t)
    return [x.retain_grad(), x.retains_grad]


@scenario
def requires_grad_false_on_non_leaf(t: ModuleType) -> Any:
    (leaf(t) * 2).requires_grad_(False)


@scenario
def requires_grad_attribute_on_non_leaf(t: ModuleType) -> Any:
    y = leaf(t) * 2
    y.requires_grad = False


@scenario
def requires_grad_true_on_non_leaf_is_fine(t: ModuleType) -> Any:
    y = leaf(t) * 2
    return y.requires_grad_(True) is y


@scenario
def requires_grad_makes_a_new_leaf(t: ModuleType) -> Any:
    c = t.tensor([1.0, 2.0]) * 2
    return [c.requires_grad_(), c.is_leaf]


@scenario
def integer_tensors_cannot_require_grad_factory(t: ModuleType) -> Any:
    t.tensor([1, 2, 3], requires_grad=True)


@scenario
def integer_tensors_cannot_require_grad_method(t: ModuleType) -> Any:
    t.tensor([1, 2, 3]).requires_grad_()


@scenario
def integer_tensors_cannot_require_grad_attribute(t: ModuleType) -> Any:
    t.tensor([1, 2, 3]).requires_grad = True


@scenario
def numpy_of_a_tensor_requiring_grad(t: ModuleType) -> Any:
    leaf(t).numpy()


@scenario
def item_and_tolist(t: ModuleType) -> Any:
    x = leaf(t)
    return [x[0].item(), x.tolist(), float(x[1])]


@scenario
def grad_assignment_checks_shape(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    x.grad = t.zeros(3)


@scenario
def grad_assignment_checks_dtype(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    x.grad = t.zeros(2, dtype=t.float64)


@scenario
def grad_assignment_checks_type(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    x.grad = [1.0, 2.0]


@scenario
def grad_assignment_then_accumulate(t: ModuleType) -> Any:
    x = leaf(t)
    external = t.ones(3)
    x.grad = external
    (x * 2).sum().backward()
    return [x.grad, x.grad is external, external]


@scenario
def next_functions_structure(t: ModuleType) -> Any:
    x, w, c = leaf(t), leaf(t, (4.0, 5.0, 6.0)), t.tensor([1.0, 1.0, 1.0])
    s = (x * w + c).sum()
    add = s.grad_fn.next_functions[0][0]
    mul = add.next_functions[0][0]
    return [
        [type(n).__name__ if n is not None else None for n, _ in s.grad_fn.next_functions],
        [type(n).__name__ if n is not None else None for n, _ in add.next_functions],
        [type(n).__name__ for n, _ in mul.next_functions],
        mul.next_functions[0][0].variable is x,
        mul.next_functions[0][0].name(),
        s.grad_fn.name(),
    ]


@scenario
def accumulate_grad_node_is_shared(t: ModuleType) -> Any:
    x = leaf(t)
    a, b = x * 2, x * 3
    return [
        a.grad_fn.next_functions[0][0] is b.grad_fn.next_functions[0][0],
        [n is not None for n, _ in (x + x).grad_fn.next_functions],
        (x + x).grad_fn.next_functions[0][0] is (x + x).grad_fn.next_functions[1][0],
    ]


@scenario
def next_functions_of_constants(t: ModuleType) -> Any:
    x, c = leaf(t), t.tensor([1.0, 1.0, 1.0])
    return [
        [n is None for n, _ in (x * c).grad_fn.next_functions],
        [n is None for n, _ in (c * x).grad_fn.next_functions],
        [n is None for n, _ in (x * 2).grad_fn.next_functions],
        [n is None for n, _ in (2 - x).grad_fn.next_functions],
        [n is None for n, _ in t.cat([x, c, x]).grad_fn.next_functions],
    ]


@scenario
def output_nr_of_unbind(t: ModuleType) -> Any:
    x = leaf(t)
    return [p.output_nr for p in x.unbind()]


# -- backward ------------------------------------------------------------------------------


@scenario
def implicit_gradient_needs_a_scalar(t: ModuleType) -> Any:
    (leaf(t) * 2).backward()


@scenario
def one_element_outputs_are_scalars_enough(t: ModuleType) -> Any:
    x = leaf(t, (3.0,))
    (x * 2).backward()
    y = t.tensor([[2.0]], requires_grad=True)
    (y * 3).backward()
    return [x.grad, y.grad]


@scenario
def gradient_shape_mismatch(t: ModuleType) -> Any:
    (leaf(t) * 2).backward(t.ones(2))


@scenario
def gradient_shape_is_not_broadcast(t: ModuleType) -> Any:
    (leaf(t) * 2).backward(t.ones(1, 3))


@scenario
def scalar_gradient_for_vector_output(t: ModuleType) -> Any:
    (leaf(t) * 2).backward(t.tensor(1.0))


@scenario
def gradient_of_other_dtype_is_accepted(t: ModuleType) -> Any:
    x = leaf(t)
    (x * 2).backward(t.ones(3, dtype=t.float64))
    return x.grad


@scenario
def gradient_as_list_of_floats(t: ModuleType) -> Any:
    (leaf(t) * 2).backward([1.0, 1.0, 1.0])


@scenario
def gradient_as_python_float(t: ModuleType) -> Any:
    (leaf(t) * 2).sum().backward(2.0)


@scenario
def backward_on_a_constant(t: ModuleType) -> Any:
    t.tensor([1.0, 2.0]).sum().backward()


@scenario
def backward_on_something_detached(t: ModuleType) -> Any:
    (leaf(t) * 2).sum().detach().backward()


@scenario
def backward_on_a_leaf_accumulates(t: ModuleType) -> Any:
    s = t.tensor(3.0, requires_grad=True)
    s.backward()
    first = s.grad.clone()
    s.backward()
    return [first, s.grad]


@scenario
def backward_through_a_select(t: ModuleType) -> Any:
    x = leaf(t)
    x[1].backward()
    return x.grad


@pytest.mark.parametrize(
    "expression",
    [
        "x + w",
        "x - 1",
        "-x",
        "x.sum()",
        "x.mean()",
        "x.view(3)",
        "x.t()",
        "x.unsqueeze(0)",
        "x.expand(2, 3)",
        "x.clone()",
        "x[0]",
        "x[0:1]",
        "torch.cat([x, w])",
        "torch.stack([x, w])",
        "x * 2",
        "x * w",
        "x / 2",
        "x ** 2",
        "2 ** x",
        "x.exp()",
        "x.log()",
        "x.relu()",
        "x.abs()",
        "x[[0]]",
        "torch.where(x > 1, x, w)",
        "x.clamp(0, 2)",
        "x.max()",
        "x.amax()",
        "x.softmax(0)",
        "x.log_softmax(0)",
        "x.sigmoid()",
        "x.tanh()",
        "x.sqrt()",
        "x.sin()",
        "x.reshape(3, 1) @ w.reshape(1, 3)",
    ],
)
def test_second_backward_fails_only_if_something_was_saved(expression: str) -> None:
    def second_backward(t: ModuleType) -> Any:
        x, w = leaf(t), leaf(t, (4.0, 5.0, 6.0))
        y = eval(expression, {"torch": t, "x": x, "w": w}).sum()
        y.backward()
        y.backward()
        return [x.grad, w.grad]

    check(second_backward)


@scenario
def retain_graph_allows_a_second_backward(t: ModuleType) -> Any:
    x = leaf(t)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


@scenario
def retain_graph_only_lasts_one_call(t: ModuleType) -> Any:
    x = leaf(t)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    y.backward()


@scenario
def shared_subgraph_is_freed_by_the_first_backward(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * x
    h.sum().backward()
    (h * 2).sum().backward()


@scenario
def saved_tensor_access_after_free(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * x
    y.sum().backward()
    return y.grad_fn._saved_self


@scenario
def create_graph_gives_differentiable_grads(t: ModuleType) -> Any:
    x = leaf(t)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    return [g, x.grad]


@scenario
def autograd_grad_returns_a_tuple_and_leaves_grad_alone(t: ModuleType) -> Any:
    x = leaf(t)
    result = t.autograd.grad((x * x).sum(), x)
    return [type(result).__name__, result, x.grad]


@scenario
def autograd_grad_unused_input(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t)
    t.autograd.grad((x * 2).sum(), [x, w])


@scenario
def autograd_grad_allow_unused(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t)
    return t.autograd.grad((x * 2).sum(), [x, w], allow_unused=True)


@scenario
def autograd_grad_materialize_grads(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t)
    return t.autograd.grad((x * 2).sum(), [x, w], materialize_grads=True)


@scenario
def autograd_grad_input_without_grad(t: ModuleType) -> Any:
    x = leaf(t)
    t.autograd.grad((x * 2).sum(), [t.ones(3)])


@scenario
def autograd_grad_empty_inputs(t: ModuleType) -> Any:
    x = leaf(t)
    t.autograd.grad((x * 2).sum(), [])


@scenario
def autograd_grad_empty_outputs(t: ModuleType) -> Any:
    t.autograd.grad([], leaf(t))


@scenario
def autograd_grad_of_an_output_wrt_itself(t: ModuleType) -> Any:
    y = (leaf(t) * 2).sum()
    return t.autograd.grad(y, y)


@scenario
def autograd_grad_wrt_non_leaf(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * 2
    return t.autograd.grad((h * h).sum(), h)


@scenario
def autograd_grad_of_several_outputs(t: ModuleType) -> Any:
    x = leaf(t)
    y1, y2 = (x * 2).sum(), (x * x).sum()
    plain = t.autograd.grad([y1, y2], x, retain_graph=True)
    weighted = t.autograd.grad([y1, y2], x, grad_outputs=[t.tensor(1.0), t.tensor(10.0)])
    return [plain, weighted]


@scenario
def autograd_grad_same_input_twice(t: ModuleType) -> Any:
    x = leaf(t)
    return t.autograd.grad((x * x).sum(), [x, x])


@scenario
def autograd_grad_create_graph(t: ModuleType) -> Any:
    x = leaf(t)
    (gx,) = t.autograd.grad((x**3).sum(), x, create_graph=True)
    (ggx,) = t.autograd.grad(gx.sum(), x)
    return [gx, ggx]


@scenario
def autograd_backward_of_several_roots(t: ModuleType) -> Any:
    x = leaf(t)
    t.autograd.backward([(x * 2).sum(), (x * x).sum()])
    return x.grad


@scenario
def backward_with_inputs_only_fills_those(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t, (4.0, 5.0, 6.0))
    (x * w).sum().backward(inputs=[x])
    return [x.grad, w.grad]


@scenario
def backward_with_inputs_empty(t: ModuleType) -> Any:
    (leaf(t) * 2).sum().backward(inputs=[])


@scenario
def backward_with_inputs_non_leaf(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * 2
    (h * h).sum().backward(inputs=[h])
    return [h.grad, x.grad]


@scenario
def backward_with_inputs_non_leaf_retains_its_grad(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    h = x * 2
    y = (h * h).sum()
    y.backward(inputs=[h], retain_graph=True)
    first = [h.grad, h.retains_grad, x.grad]
    y.backward(inputs=[h], retain_graph=True)
    y.backward()
    return [first, h.grad, x.grad]


@scenario
def backward_with_inputs_still_checks_versions(t: ModuleType) -> Any:
    x, w = leaf(t, (1.0, 2.0)), leaf(t, (3.0, 4.0))
    a, h = x * 1, w * 1
    y = (a * h).sum()
    a.add_(1)
    y.backward(inputs=[x])


@scenario
def backward_with_inputs_runs_the_input_node(t: ModuleType) -> Any:
    x = leaf(t, (1.0,))
    m = t.maximum(x, x)
    s = m.sum()
    s.backward()
    s.backward(inputs=[m])  # m's own node runs, and its saved tensors are gone


@scenario
def backward_with_inputs_not_requiring_grad(t: ModuleType) -> Any:
    x = leaf(t)
    (x * 2).sum().backward(inputs=[t.ones(3)])


@scenario
def backward_with_unused_input(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t)
    (x * 2).sum().backward(inputs=[w])
    return [x.grad, w.grad]


@scenario
def unreached_leaf_keeps_none_but_zero_path_gives_zeros(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t)
    (x * 0).sum().backward()
    return [x.grad, w.grad]


# -- accumulation ----------------------------------------------------------------------------


@scenario
def grads_accumulate_across_graphs_in_place(t: ModuleType) -> Any:
    x = leaf(t)
    (x * 2).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    return [first, x.grad, first is x.grad]


@scenario
def zeroing_grads_keeps_the_object(t: ModuleType) -> Any:
    x = leaf(t)
    (x * 2).sum().backward()
    g = x.grad
    x.grad.zero_()
    (x * 3).sum().backward()
    g2 = x.grad
    x.grad.data.zero_()
    (x * 4).sum().backward()
    return [g is x.grad, g2 is x.grad, x.grad]


@scenario
def setting_grad_to_none_makes_a_new_object(t: ModuleType) -> Any:
    x = leaf(t)
    (x * 2).sum().backward()
    g = x.grad
    x.grad = None
    (x * 3).sum().backward()
    return [g is x.grad, g, x.grad]


@scenario
def grad_never_aliases_the_gradient_argument(t: ModuleType) -> Any:
    x = leaf(t)
    gradient = t.ones(3)
    x.backward(gradient)
    gradient.mul_(5)
    return x.grad


@scenario
def accumulation_under_create_graph_is_not_in_place(t: ModuleType) -> Any:
    x = leaf(t)
    (x * x).sum().backward()
    g = x.grad
    (x * x).sum().backward(create_graph=True)
    return [g is x.grad, x.grad]


@scenario
def a_leaf_used_several_times(t: ModuleType) -> Any:
    x = leaf(t)
    (x * x + x).sum().backward()
    return x.grad


@scenario
def repeated_indices_accumulate(t: ModuleType) -> Any:
    x = leaf(t)
    x[[0, 0, 2]].sum().backward()
    return x.grad


@scenario
def grad_attributes(t: ModuleType) -> Any:
    x = leaf(t, dtype=t.float64)
    (x * 2).sum().backward()
    return [x.grad, x.grad.requires_grad, x.grad.is_leaf, x.grad.grad_fn]


@scenario
def broadcasting_reduces_gradients(t: ModuleType) -> Any:
    a = t.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = t.tensor([[1.0], [2.0]], requires_grad=True)
    s = t.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    z = t.tensor(2.0, requires_grad=True)
    (a * b + s * z).sum().backward()
    return [a.grad, b.grad, s.grad, z.grad]


@scenario
def mixed_precision_grads_keep_leaf_dtypes(t: ModuleType) -> Any:
    x32 = leaf(t)
    x64 = leaf(t, dtype=t.float64)
    y = x32 * x64
    y.sum().backward()
    z = leaf(t)
    z.double().mul(3).sum().backward()
    return [y, x32.grad, x64.grad, z.grad]


@scenario
def promotion_rules(t: ModuleType) -> Any:
    x = leaf(t)
    return [
        x * t.tensor([1, 2, 3]),
        x * t.tensor(2.0, dtype=t.float64),
        x * 2.5,
        t.tensor([1, 2]) / t.tensor([2, 2]),
        t.tensor([True, False]) + 1,
        t.tensor([1, 2], dtype=t.int32) * 2,
        t.tensor([1, 2]) * 2.5,
    ]


@pytest.mark.parametrize(
    "program",
    [
        "g.zero_()",
        "g.add_(1)",
        "g.copy_(t.ones(2))",
        "g[0] = 1.0",
        "g[[0]] = 1.0",
        "g[0].mul_(2)",
        "g.detach().neg_()",
        "g.numpy()",
        "g.tolist()",
        "x.exp().sum().backward()",
        "x.sgn().sum().backward()",
        "x.sgn().sum().backward(create_graph=True); r = [x.grad.clone(), x.grad._is_zerotensor()]",
        "x.exp().sum().backward(create_graph=True); r = [x.grad.clone(), x.grad._is_zerotensor()]",
        "x.grad = None; x.exp().sum().backward(); r = x.grad._is_zerotensor()",
        "r = [str(g), g[1].item(), g.clone(), g.exp(), (g + 1)._is_zerotensor()]",
        "r = [g.view(2)._is_zerotensor(), g.detach()._is_zerotensor(), g.clone()._is_zerotensor()]",
        "r = t.autograd.grad(x.sgn().sum(), x)[0]._is_zerotensor()",
        "y = leaf(t); (y.sgn() + y.sgn()).sum().backward(); r = y.grad._is_zerotensor()",
        "y = leaf(t); (y.sgn() + y).sum().backward(); r = y.grad._is_zerotensor()",
        "w = t.tensor([nan, 2.0]); r = [(z := g * w)._is_zerotensor(), z.clone(), (w * g).clone()]",
        "r = [(z := g * 2)._is_zerotensor(), z.clone(), (g * g)._is_zerotensor(), g.dot(g.exp())]",
        "w = t.tensor([nan, 2.0]); r = [(z := g / w)._is_zerotensor(), z.clone(), w / g, g / g]",
        "r = [2 / g, g / 2, (g / 2)._is_zerotensor()]",
        "w = t.tensor([nan, 2.0]); r = [(g + w), (w - g), (g - 1), (g + g)._is_zerotensor(), -g]",
        "r = [(g - g)._is_zerotensor(), g.add(g, alpha=3)._is_zerotensor(), g.sum(), g.mean()]",
        "r = [z._is_zerotensor() for z in (g.expand(2, 2), g.reshape(2, 1).t(), g[1:], g.flip(0))]",
        "r = [(z := g.double())._is_zerotensor(), z, g.float()._is_zerotensor()]",
    ],
)
def test_zero_tensor_gradients(program: str) -> None:
    """Found by the kit: sgn's gradient (real input) is torch's efficient ZeroTensor; stored
    as .grad it is immutable, so a second backward accumulating into it in place fails.
    torch's ZeroTensor kernels: a product with one is one (0 * nan is 0), so is a quotient
    by a number or tensor (x / 0 is inf, 0 / 0 nan, everywhere), a sum only of two; views
    of it are ZeroTensors, anything else reads it as plain zeros."""

    def run_program(t: ModuleType) -> Any:
        x = leaf(t, (1.0, -2.0))
        x.sgn().sum().backward()
        names = {"t": t, "x": x, "g": x.grad, "leaf": leaf, "nan": nan}
        exec(program, names)
        return names.get("r"), x.grad._is_zerotensor()

    check(run_program)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize(
    "expression",
    [
        "x * w", "w * x", "x / w", "w / x", "x + w", "x - w", "-x", "x * 2", "x / 2", "2 / x",
        "x.add(w, alpha=2)", "x.sub(w, alpha=2)", "x.exp()", "x.sin()", "x ** 2", "x ** w",
        "x.sum()", "x.sum(0)", "x.mean()", "x.expand(2, 3)", "x.reshape(3, 1)", "x[0]", "x[1:]",
        "x.unsqueeze(0).t()", "x.amax()", "x.max()", "x.max(0)[0]", "x.norm()", "x.var()",
        "x.std()", "x.softmax(0)", "x.prod()", "t.cat([x, w])", "t.stack([x, w])", "x.dot(w)",
        "x @ w", "t.outer(x, w)", "x.split(1)[0]", "x.clamp(0, 2)", "x.double()", "x.flip(0)",
        "x.norm(p=0)", "x.norm(p=0.5)", "x.norm(p=1.5)", "x.norm(p=3)", "x.norm(p=-1)",
        "x.norm(p=float('-inf'))",
    ],
)
def test_zero_tensors_through_backward_formulas(expression: str, create_graph: bool) -> None:
    """Found by the kit (amax, then sgn, then two backwards): sgn's ZeroTensor gradient goes
    through the formulas below it by torch's ZeroTensor rules, and AccumulateGrad keeps it
    (immutable) only if it may steal it: not under create_graph, not expanded (the layout
    contract), not also pending for another input (x + w sends one gradient to both)."""

    def run_program(t: ModuleType) -> Any:
        x, w = leaf(t), leaf(t, (4.0, float("nan"), 6.0))
        y = eval(expression, {"t": t, "x": x, "w": w}).sgn().sum()
        y.backward(create_graph=create_graph, retain_graph=True)
        grads = [None if g is None else [g.clone(), g._is_zerotensor()] for g in (x.grad, w.grad)]
        y.backward()  # accumulates: in place into a ZeroTensor .grad fails
        return grads, x.grad, w.grad

    check(run_program)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize(
    "expression",
    ["s * 2.0", "2.0 * s", "s / 2.0", "s * 2", "s * True", "s * 2.0 * 3.0", "(s * 2.0)[None]",
     "s * d", "d * 2.0", "v * 2.0", "v * d", "s.double() * 2.0", "r * 2.0"],
)
def test_zero_tensors_promote_like_plain_0_dim_tensors(expression: str, create_graph: bool) -> None:
    """Found by the kit: torch's ZeroTensor kernels promote dtypes as if a Python number were
    a plain 0-dim tensor (a float: float64), so a 0-dim float32 ZeroTensor times 2.0 is
    float64, and the engine's cast back to float32 makes it plain, mutable zeros."""

    def run_program(t: ModuleType) -> Any:
        s, v = t.tensor(1.0, requires_grad=True), leaf(t)
        d = t.tensor(3.0, dtype=t.float64, requires_grad=True)
        r = s * 1  # an intermediate that keeps its gradient (retain_grad)
        r.retain_grad()
        y = eval(expression, {"s": s, "v": v, "d": d, "r": r}).sgn().sum()
        y.backward(create_graph=create_graph)
        grads = [None if g is None else (g, g._is_zerotensor()) for g in (s.grad, v.grad, d.grad)]
        return grads, r.grad, s.grad.zero_() if s.grad is not None else None

    check(run_program)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize(
    "expression",
    ["t.maximum(a, b)", "t.minimum(a, b)", "a * b", "a / b", "a ** b", "a.dot(b)", "a @ b",
     "a.clamp(min=b, max=b + 1)", "a.clamp(min=b + 1, max=b)", "a[None].mm(b[:, None])",
     "a[None].mv(b)", "a[None, None].bmm(b[None, :, None])", "t.where(a > 0, a, b) * a"],
)
def test_a_version_error_names_the_saved_tensor_torch_unpacks_first(
    expression: str, swap: bool
) -> None:
    """Found by the kit: torch's generated nodes unpack saved inputs sorted by name (then
    outputs), so with two modified saved tensors the error names `other` of a product
    before `self`, `self` of a dot before `tensor`."""

    def run_program(t: ModuleType) -> Any:
        x = leaf(t, (1.0,))
        plain = -x
        view = plain.expand((1,))  # a view: modified, it is "output 0 of AsStrided"
        a, b = (view, plain) if swap else (plain, view)
        y = eval(expression, {"t": t, "a": a, "b": b})
        view.detach().add_(x)
        y.sum().backward()

    check(run_program)


@pytest.mark.parametrize(
    "program",
    [
        "twice(t.stack((a, b)).sum())",
        "twice(t.stack((a, b)).view(2, 1).sum())",
        "y = t.stack((a, b)).sum(); y.backward(retain_graph=True); a.grad.zero_(); y.backward()",
        "t.stack((a, b)).sum().backward(); r = a.grad.data_ptr() == b.grad.data_ptr()",
        "twice(t.stack((a, b)).mean())",
        "twice((t.stack((a, b)) * 2).sum())",
        "twice(t.stack((a, b, a)).sum())",
        "twice(t.stack((a, b)), g := t.ones(2)); r = g",
        "twice(t.stack((a, b)), g := t.tensor(1.0).expand(2)); r = g",
        "twice(a, g := t.tensor(1.0)); r = g",
        "twice(a + b)",
        "a.register_hook((r := []).append); twice(t.stack((a, b)).sum())",
        "a.register_hook(lambda g: None); twice(t.stack((a, b)).sum())",
        "y = t.stack((a, b)).sum(); y.backward(retain_graph=True); a.grad = None; y.backward()",
    ],
)
def test_accumulate_grad_steals_what_nothing_else_holds(program: str) -> None:
    """Found by the kit: AccumulateGrad stores a gradient nothing else refers to as .grad
    without a copy. Stacked 0-dim leaves under a sum get views of one element as grads, so
    accumulating into one adds into both; views of a caller's `gradient` alias it. A root
    gradient itself, one sent to two inputs or one a hook kept is copied."""

    def twice(y: Any, gradient: Any = None) -> None:
        y.backward(gradient, retain_graph=True)
        y.backward(gradient)

    def run_program(t: ModuleType) -> Any:
        a, b = t.tensor(1.0, requires_grad=True), t.tensor(1.0, requires_grad=True)
        names = {"t": t, "a": a, "b": b, "twice": twice}
        exec(program, names)
        return a.grad, b.grad, names.get("r")

    check(run_program)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss_gradients_of_mixed_dtypes_under_create_graph(reduction: str) -> None:
    """Found by the kit: mse_loss_backward returns its `self`'s dtype (computing in the
    promoted one), so a float32 target's gradient needs no cast: MseLossBackwardBackward0,
    not ToCopyBackward0."""

    def gradients(t: ModuleType) -> Any:
        x = t.tensor([1.0, 2.5], dtype=t.float64, requires_grad=True)
        y = t.tensor([1.5, 2.0], requires_grad=True)
        loss = t.nn.functional.mse_loss(x, y, reduction=reduction)
        gx, gy = t.autograd.grad(loss, [x, y], create_graph=True)
        return gx, gy, t.autograd.grad((gy * y).sum(), [x, y])

    check(gradients)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, -1, float("inf"), float("-inf")])
def test_vector_norms_of_every_order(p: float, dim: Any, create_graph: bool) -> None:
    """Found by the kit (p=3 under sgn): the gradient follows torch's norm_backward op for
    op: in place where it is (a ZeroTensor gradient then raises for 1 < p != 2), none for
    p=0 (a count of nonzeros); -inf is the smallest magnitude."""

    def run_program(t: ModuleType) -> Any:
        x = t.tensor([[1.0, -2.0, 0.0], [0.5, 3.0, -1.0]], dtype=t.float64, requires_grad=True)
        y = x.norm(p=p, dim=dim)
        if create_graph:
            return y, t.autograd.grad((y * y).sum(), x, create_graph=True, allow_unused=True)
        (y * y).sum().backward()
        return y, x.grad

    check(run_program)


@pytest.mark.parametrize(
    "program",
    [
        "r = t.autograd.grad([(2.0 - x).norm(p=0)], [x])",
        "r = t.autograd.grad([(2.0 - x).exp().norm(p=0)], [x], allow_unused=True)",
        "((2.0 - x).exp().norm(p=0) + x.sum()).backward(); r = x.grad",
        "t.stack([x, x * 2]).norm(p=0, dim=0).sum().backward(); r = x.grad",
        "y = (x * 2).norm(p=0); y.backward(); y.backward()",
    ],
)
def test_nodes_below_a_missing_gradient_give_none(program: str) -> None:
    """Found by the kit: norm with p=0 gives no gradient, and the nodes below pass none on
    (torch's generated nodes check that some gradient is defined), still unpacking their
    saved tensors (a second backward fails)."""

    def run_program(t: ModuleType) -> Any:
        names = {"t": t, "x": t.tensor(1.5, requires_grad=True)}
        exec(program, names)
        return names.get("r")

    check(run_program)


@pytest.mark.parametrize(
    "expression",
    ["x.scatter(0, i, s)", "x.scatter(0, i, 5.0)", "x.scatter(0, i, value=-1.0)",
     "x.scatter_add(0, i, s)"],
)
def test_scatter_gradients_under_create_graph(expression: str) -> None:
    """Found by the kit: scatter's gradient for self scatters the number 0 (ScatterBackward1,
    torch's scatter.value), and scatter takes a number as src or value."""

    def gradients(t: ModuleType) -> Any:
        x, s = leaf(t), t.tensor([7.0, 8.0], requires_grad=True)
        i = t.tensor([0, 2])
        y = eval(expression, {"x": x, "s": s, "i": i})
        return y, t.autograd.grad((2.0 ** y).sum(), [x, s], create_graph=True,
                                  allow_unused=True)

    check(gradients)


@pytest.mark.parametrize("refused", [False, True])
def test_a_refused_inplace_op_still_made_its_node(refused: bool) -> None:
    """Found by the kit: torch's autograd layer makes an in-place op's node before the
    kernel checks overlap, and making it regenerates a stale view's grad_fn; so after a
    refused `d[[0], 0] = e` the output relu_ saved names its own node (Relu), not the
    view's dropped AsStrided node."""

    def run_program(t: ModuleType) -> Any:
        x = t.tensor([[1.0]], requires_grad=True)
        d = x * 2.0
        e = d.squeeze()
        e.relu_()
        d[()] = x
        if refused:
            with pytest.raises(RuntimeError, match="single memory location"):
                d[[0], 0] = e
        d.backward(retain_graph=True)

    check(run_program)


def test_index_put_into_itself_expanded_warns_before_it_refuses() -> None:
    """Found by the kit: torch warns of index_put_ on an expanded tensor before its overlap
    check refuses `a[[0, 1]] = a`."""

    def seen(t: ModuleType) -> tuple[list[str], str]:
        a = t.ones(2, 2).expand(2, 2, 2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(RuntimeError) as refused:
                a[[0, 1]] = a
        # (less torch's "(Triggered internally at <its source file>)")
        return [normalise_message(str(w.message)) for w in caught], str(refused.value)

    assert seen(refgrad) == seen(torch)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_sign_of_nan_is_zero(dtype: str) -> None:
    """Found by the kit: torch's sign is (0 < x) - (x < 0), so NaN has sign 0 (NumPy's is
    NaN) and -0.0 sign +0; abs's gradient uses it too. A bool's sign is itself."""

    def run_program(t: ModuleType) -> Any:
        if dtype == "bool":
            return t.tensor([True, False]).sign()
        values = [float("nan"), -1.0, 0.0, -0.0, 2.0, float("inf"), -float("inf")]
        if dtype == "int64":
            return t.tensor([-3, 0, 2]).sign()
        x = t.tensor(values, dtype=getattr(t, dtype), requires_grad=True)
        x.abs().sum().backward()
        return x.sign(), x.sgn(), x.grad

    check(run_program)


# -- grad modes -------------------------------------------------------------------------------


@scenario
def no_grad_outputs_are_leaves(t: ModuleType) -> Any:
    x = leaf(t)
    with t.no_grad():
        y = x * 2
        enabled = t.is_grad_enabled()
    return [y, enabled, t.is_grad_enabled()]


@scenario
def enable_grad_inside_no_grad(t: ModuleType) -> Any:
    x = leaf(t)
    with t.no_grad():
        with t.enable_grad():
            y = x * 2
            inner = t.is_grad_enabled()
        after = t.is_grad_enabled()
    return [y, inner, after]


@scenario
def grad_mode_restored_after_exception(t: ModuleType) -> Any:
    try:
        with t.no_grad():
            raise ValueError("boom")
    except ValueError:
        pass
    return t.is_grad_enabled()


@scenario
def factories_can_require_grad_in_no_grad(t: ModuleType) -> Any:
    with t.no_grad():
        a = t.ones(2, requires_grad=True)
        b = t.zeros(2).requires_grad_()
    return [a, b]


@scenario
def sgd_step_in_no_grad(t: ModuleType) -> Any:
    x = leaf(t)
    (x * x).sum().backward()
    with t.no_grad():
        x -= 0.1 * x.grad
    x.grad = None
    (x * x).sum().backward()
    return [x, x.grad, x.is_leaf, x._version]


@scenario
def in_place_in_no_grad_still_bumps_the_version(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * x
    with t.no_grad():
        x.mul_(2)
    y.sum().backward()


@scenario
def no_grad_as_decorator(t: ModuleType) -> Any:
    x = leaf(t)

    @t.no_grad()
    def with_parens() -> Any:
        return x * 2, t.is_grad_enabled()

    @t.no_grad
    def without_parens() -> Any:
        return x * 2, t.is_grad_enabled()

    return [with_parens(), without_parens(), t.is_grad_enabled()]


@scenario
def set_grad_enabled_forms(t: ModuleType) -> Any:
    x = leaf(t)
    with t.set_grad_enabled(False):
        a = x * 2
        with t.set_grad_enabled(True):
            b = x * 2
    t.set_grad_enabled(False)
    c = x * 2
    t.set_grad_enabled(True)
    return [a, b, c, t.is_grad_enabled()]


@scenario
def backward_inside_no_grad_works(t: ModuleType) -> Any:
    x = leaf(t)
    y = (x * x).sum()
    with t.no_grad():
        y.backward()
    return x.grad


@scenario
def views_made_in_no_grad(t: ModuleType) -> Any:
    x = leaf(t)
    with t.no_grad():
        v = x[0:2]
        u = x * 1
    out = (v * 2).sum()
    return [
        v,
        v.requires_grad,
        v.is_leaf,
        u,
        out,
        [n is None for n, _ in (v * 2).grad_fn.next_functions],
    ]


@scenario
def backward_from_a_no_grad_view(t: ModuleType) -> Any:
    x = leaf(t, (1.0,))
    with t.no_grad():
        v = x.view(())
    v.backward()


@pytest.mark.parametrize(
    "make",
    [
        "x.double()",
        "x.clone()",
        "x ** x",
        "2 ** x",
        "x ** 2",
        "(x * 1).copy_(x)",
        "2 - x",
        "x.reshape(2, 1).sum(1)",
        "x.reshape(2, 1).mean(1)",
        "(x * 1).fill_(2.0)",
        "x.reshape(2, 1).max(1)[0]",
        "x.clamp(0, 2)",
        "x.max()",
    ],
)
def test_version_error_names_the_node(make: str) -> None:
    def modified_after_saving(t: ModuleType) -> Any:
        x = leaf(t, (1.5, 2.5))
        h = eval(make, {"x": x})
        y = h * h
        h.detach().add_(1)
        y.sum().backward()

    check(modified_after_saving)


@scenario
def in_place_on_a_no_grad_view(t: ModuleType) -> Any:
    h = leaf(t) * 1
    with t.no_grad():
        v = h[0:2]
    v.mul_(2)


@scenario
def inference_mode_outputs(t: ModuleType) -> Any:
    x = leaf(t)
    with t.inference_mode():
        y = x * 2
        state = (t.is_grad_enabled(), t.is_inference_mode_enabled())
    return [y, state, t.is_inference_mode_enabled()]


@scenario
def inference_tensors(t: ModuleType) -> Any:
    x = leaf(t)
    with t.inference_mode():
        y = x * 2
        z = t.ones(3)
        view = y[0:2]
        with t.enable_grad():
            q = x * 2
            grad_enabled = t.is_grad_enabled()
    return [
        [y.is_inference(), z.is_inference(), view.is_inference(), x.is_inference()],
        [q, q.is_inference(), grad_enabled],
        [y * 2, (y * 2).is_inference(), y + x, (y + x).is_inference(), y.clone().is_inference()],
    ]


@pytest.mark.parametrize(
    "statement", ["x * y", "(x * y).sum().backward()", "y.add_(1)", "y.requires_grad_()"]
)
def test_inference_tensors_outside_inference_mode(statement: str) -> None:
    def misuse(t: ModuleType) -> Any:
        x = leaf(t)
        with t.inference_mode():
            y = x * 2
        return eval(statement, {"x": x, "y": y})

    check(misuse)


@scenario
def inference_mode_false_is_normal(t: ModuleType) -> Any:
    x = leaf(t)
    with t.inference_mode(False):
        y = x * 2
        enabled = t.is_inference_mode_enabled()
    return [y, y.is_inference(), enabled]


# -- detach, .data, in place, versions ----------------------------------------------------


@scenario
def data_mutation_is_invisible_to_autograd(t: ModuleType) -> Any:
    x = leaf(t)
    y = 2 * x
    x.data *= 100
    y.sum().backward()
    return [x, x.grad, x._version]


@scenario
def data_mutation_of_a_saved_tensor_is_silent(t: ModuleType) -> Any:
    x = leaf(t)
    y = (x * x).sum()
    x.data.mul_(10)
    y.backward()
    return x.grad


@scenario
def data_shares_memory_but_not_the_version(t: ModuleType) -> Any:
    x = leaf(t)
    d = x.data
    d.add_(1)
    return [x, d._version, x._version, d.is_leaf, d.requires_grad, x.data is x.data]


@scenario
def data_assignment_replaces_contents(t: ModuleType) -> Any:
    x = leaf(t)
    x.data = t.tensor([5.0, 6.0, 7.0])
    return [x, x.requires_grad]


@scenario
def detach_shares_the_version_counter(t: ModuleType) -> Any:
    x = leaf(t)
    x.detach().add_(1)
    return [x, x._version]


@scenario
def detach_mutation_of_a_saved_tensor_is_caught(t: ModuleType) -> Any:
    x = leaf(t)
    y = (x * x).sum()
    x.detach().mul_(10)
    y.backward()


@scenario
def gather_saves_its_input(t: ModuleType) -> Any:
    # torch's gather_backward takes self (only for its shape), so self is saved.
    x = t.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.gather(1, t.tensor([[0, 0], [1, 0]]))
    return [y.grad_fn._saved_self is x, y.grad_fn._saved_dim]


@scenario
def gather_input_modified_in_place_fails_backward(t: ModuleType) -> Any:
    x = t.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.gather(1, t.tensor([[0, 0], [1, 0]]))
    x.detach().add_(1)
    y.sum().backward()


@scenario
def detach_mutation_of_an_unsaved_tensor_is_fine(t: ModuleType) -> Any:
    x = leaf(t)
    y = 2 * x
    x.detach().mul_(100)
    y.sum().backward()
    return x.grad


@scenario
def detach_mutation_of_a_saved_output(t: ModuleType) -> Any:
    e = leaf(t).exp()
    e.detach().zero_()
    e.sum().backward()


@pytest.mark.parametrize("statement", ["x.add_(1)", "x += 1", "x.zero_()", "x.copy_(x.detach())"])
def test_in_place_on_a_leaf_requiring_grad(statement: str) -> None:
    def in_place(t: ModuleType) -> Any:
        x = leaf(t)
        exec(statement, {"x": x})

    check(in_place)


@pytest.mark.parametrize("statement", ["x[0] = 5.", "x[0].mul_(2)", "x.view(3).add_(1)"])
def test_in_place_on_a_view_of_a_leaf(statement: str) -> None:
    def in_place(t: ModuleType) -> Any:
        x = leaf(t)
        exec(statement, {"x": x})

    check(in_place)


@scenario
def in_place_after_requires_grad_false(t: ModuleType) -> Any:
    x = leaf(t)
    x.requires_grad_(False)
    x.add_(1)
    return x


@scenario
def in_place_on_unsaved_non_leaf(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * 1
    h.add_(1).mul_(3)
    h.sum().backward()
    return [h, x.grad, h._version]


@pytest.mark.parametrize("mutation", ["h.add_(1)", "h += 1", "h.zero_()", "h[0] = 9."])
@pytest.mark.parametrize("use", ["h * h", "h.sin()"])
def test_in_place_on_a_saved_input(mutation: str, use: str) -> None:
    def in_place(t: ModuleType) -> Any:
        h = leaf(t) * 1
        y = eval(use, {"h": h})
        exec(mutation, {"h": h})
        y.sum().backward()

    check(in_place)


@pytest.mark.parametrize("op", ["exp", "sigmoid", "relu", "tanh", "sqrt"])
def test_in_place_on_a_saved_output(op: str) -> None:
    def in_place(t: ModuleType) -> Any:
        y = getattr(leaf(t) * 1, op)()
        y.add_(1)
        y.sum().backward()

    check(in_place)


@scenario
def in_place_op_replaces_grad_fn(t: ModuleType) -> Any:
    x = leaf(t)
    names = []
    for op in ["relu_", "sigmoid_", "exp_", "zero_"]:
        h = x * 1
        getattr(h, op)()
        names.append(h)
    h = x * 1
    h.add_(1)
    h.mul_(2)
    return [names, h]


@scenario
def in_place_twice_on_a_saved_result(t: ModuleType) -> Any:
    h = leaf(t) * 1
    h.sigmoid_()
    h.mul_(2)
    h.sum().backward()


@scenario
def in_place_with_another_grad_input(t: ModuleType) -> Any:
    x, w = leaf(t), leaf(t, (5.0, 6.0, 7.0))
    h = x * 1
    h.mul_(w)
    h.sum().backward()
    return [h, x.grad, w.grad]


@scenario
def in_place_into_a_plain_tensor(t: ModuleType) -> Any:
    x = leaf(t)
    a = t.zeros(3)
    a.add_(x)
    a.sum().backward()
    return [a, x.grad, [n is None for n, _ in a.grad_fn.next_functions]]


@scenario
def setitem_into_a_plain_tensor(t: ModuleType) -> Any:
    x = leaf(t)
    a = t.zeros(2, 3)
    a[0] = x
    (a * 2).sum().backward()
    return [a, x.grad, [n is None for n, _ in a.grad_fn.next_functions], a.grad_fn.name()]


@scenario
def setitem_variants(t: ModuleType) -> Any:
    x = leaf(t)
    h1 = x * 1
    h1[0] = 5.0
    h2 = x * 1
    h2[:] = t.ones(3)
    h3 = x * 1
    h3[[0, 1]] = 2.0
    h4 = x * 1
    h4[h4 > 2] = 0.0
    (h1 + h2 + h3 + h4).sum().backward()
    return [h1, h2, h3, h4, x.grad]


@scenario
def numerically_no_op_in_place_still_counts(t: ModuleType) -> Any:
    h = leaf(t) * 1
    y = h * h
    h.add_(0)
    y.sum().backward()


@scenario
def view_mutation_bumps_the_shared_version(t: ModuleType) -> Any:
    h = leaf(t) * 1
    y = h * h
    h.view(3).add_(1)
    y.sum().backward()


@scenario
def base_mutation_after_saving_a_view(t: ModuleType) -> Any:
    h = leaf(t) * 1
    v = h[0:2]
    y = v * v
    h.mul_(2)
    return [v, y]


@scenario
def base_mutation_after_saving_a_view_then_backward(t: ModuleType) -> Any:
    h = leaf(t) * 1
    v = h[0:2]
    y = v * v
    h.mul_(2)
    y.sum().backward()


@scenario
def view_of_non_leaf_modified_in_place(t: ModuleType) -> Any:
    x = leaf(t, ((1.0, 2.0), (3.0, 4.0)))
    y = x * 1
    z = y[0]
    z.mul_(10)
    (y * 2).sum().backward()
    return [y, z, x.grad]


@scenario
def in_place_on_self_saved(t: ModuleType) -> Any:
    h = leaf(t) * 1
    h.mul_(h)
    h.sum().backward()


@scenario
def versions_count_in_place_ops(t: ModuleType) -> Any:
    x = t.zeros(3)
    versions = [x._version]
    x.add_(1)
    versions.append(x._version)
    x[0] = 5.0
    versions.append(x._version)
    x[:] = 1.0
    versions.append(x._version)
    x += 1
    versions.append(x._version)
    v = x.view(3)
    v.mul_(2)
    versions.append((x._version, v._version))
    return versions


@scenario
def detach_in_place(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * 2
    same = h.detach_() is h
    x.detach_()
    return [same, h, x]


@scenario
def detach_in_place_on_a_view(t: ModuleType) -> Any:
    leaf(t).view(3).detach_()


@scenario
def detached_then_requires_grad(t: ModuleType) -> Any:
    x = leaf(t)
    d = x.detach().requires_grad_()
    (d * 3).sum().backward()
    return [d.grad, x.grad]


# -- hooks ------------------------------------------------------------------------------------


@scenario
def hook_on_an_output_without_gradient_sees_none(t: ModuleType) -> Any:
    """Found by the kit: a tensor hook runs when its node runs, even with no gradient."""
    x = leaf(t, (1.0, 2.0))
    a, b = x.unbind(0)
    calls: list[Any] = []
    b.register_hook(calls.append)
    a.backward(retain_graph=True)
    (ga,) = t.autograd.grad(a, x)
    return [calls, ga, x.grad]


@scenario
def autograd_grad_visits_a_lone_root_it_does_not_need(t: ModuleType) -> Any:
    """Found by the kit: one root is the graph's root in torch, so its hooks run even when
    autograd.grad does not need it (with several roots, or below the root, they do not)."""
    calls: list[Any] = []
    x, w = leaf(t, (1.0,)), leaf(t, (2.0,))
    x.register_hook(lambda g: calls.append(("x", g)))
    y = x * 3
    y.register_hook(lambda g: calls.append(("y", g)))
    unused = t.autograd.grad([x], [w], allow_unused=True)
    several = t.autograd.grad([x, w], [w])
    below = t.autograd.grad(y * w, [w])
    (y * w).sum().backward(inputs=[w])
    return [calls, unused, several, below, x.grad, w.grad]


@scenario
def autograd_grad_hook_on_a_lone_unneeded_root_changing_its_size(t: ModuleType) -> Any:
    x, w = t.tensor(1.0, requires_grad=True), t.tensor(2.0, requires_grad=True)
    x.register_hook(lambda g: g.unsqueeze(0))
    return t.autograd.grad([x], [w, w])


@scenario
def hook_may_not_replace_a_none_gradient(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    a, b = x.unbind(0)
    b.register_hook(lambda g: t.ones(()))
    a.backward()


@scenario
def hook_order(t: ModuleType) -> Any:
    calls: list[Any] = []
    x = leaf(t)
    y = x * 2
    z = (y * y).sum()
    z.register_hook(lambda g: calls.append(("z", g.tolist())))
    y.register_hook(lambda g: calls.append(("y1", g.tolist())))
    y.register_hook(lambda g: calls.append(("y2", g.tolist())))
    x.register_hook(lambda g: calls.append(("x1", g.tolist())))
    x.register_hook(lambda g: calls.append(("x2", g.tolist())))
    z.backward()
    return calls


@scenario
def hooks_replace_gradients(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    seen = []
    y.register_hook(lambda g: g * 100)
    y.register_hook(lambda g: seen.append(g.tolist()))
    x.register_hook(lambda g: g * 10)
    y.sum().backward()
    return [seen, x.grad]


@scenario
def leaf_hook_sees_the_incoming_gradient(t: ModuleType) -> Any:
    x = leaf(t)
    seen: list[Any] = []
    x.register_hook(
        lambda g: seen.append((g.tolist(), None if x.grad is None else x.grad.tolist()))
    )
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    return seen


@scenario
def hook_on_a_tensor_used_twice_runs_once(t: ModuleType) -> Any:
    x = leaf(t)
    h = x * 1
    seen: list[Any] = []
    h.register_hook(lambda g: seen.append(g.tolist()))
    x.register_hook(lambda g: seen.append(g.tolist()))
    (h * 2 + h * 3 + x).sum().backward()
    return seen


@scenario
def post_accumulate_grad_hook(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    seen: list[Any] = []
    x.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    return seen


@scenario
def hook_on_a_tensor_without_grad(t: ModuleType) -> Any:
    t.ones(2).register_hook(lambda g: g)


@scenario
def hook_changing_the_shape(t: ModuleType) -> Any:
    x = leaf(t)
    x.register_hook(lambda g: g.sum())
    (x * 2).sum().backward()


@scenario
def hook_changing_the_dtype(t: ModuleType) -> Any:
    x = leaf(t)
    x.register_hook(lambda g: g.double())
    (x * 2).sum().backward()


@scenario
def hook_returning_a_non_tensor(t: ModuleType) -> Any:
    x = leaf(t)
    x.register_hook(lambda g: 1)
    (x * 2).sum().backward()


@scenario
def hook_removed_by_its_handle(t: ModuleType) -> Any:
    x = leaf(t)
    handle = x.register_hook(lambda g: g * 10)
    handle.remove()
    (x * 2).sum().backward()
    return x.grad


@scenario
def retain_grad_sees_the_hooked_value(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 100)
    y.sum().backward()
    return [y.grad, x.grad]


@scenario
def exceptions_in_hooks_propagate(t: ModuleType) -> Any:
    x = leaf(t)

    def boom(g: Any) -> Any:
        raise ValueError("boom")

    x.register_hook(boom)
    (x * 2).sum().backward()


@scenario
def hooks_run_under_autograd_grad(t: ModuleType) -> Any:
    x = leaf(t)
    y = x * 2
    y.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: g + 1)
    return t.autograd.grad(y.sum(), x)


@scenario
def node_hooks(t: ModuleType) -> Any:
    x = leaf(t, (1.0, 2.0))
    y = x * 2
    seen: list[Any] = []
    y.grad_fn.register_prehook(lambda go: seen.append([g.tolist() for g in go]))
    y.grad_fn.register_hook(
        lambda gi, go: seen.append(
            [[None if g is None else g.tolist() for g in gi], [g.tolist() for g in go]]
        )
    )
    y.sum().backward()
    return seen


# -- higher order -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "x * x",
        "x ** 3",
        "x.exp()",
        "x.sin()",
        "x.tanh()",
        "x.sigmoid()",
        "x.log()",
        "x.sqrt()",
        "1 / x",
        "x.softmax(0)",
        "(x * x).mean()",
        "x.prod()",
        "x.norm()",
        "(x @ x)",
    ],
)
def test_second_derivatives(expression: str) -> None:
    def second_derivative(t: ModuleType) -> Any:
        x = leaf(t, (0.5, 1.5, 2.5), dtype=t.float64)
        y = eval(expression, {"x": x}).sum()
        (gx,) = t.autograd.grad(y, x, create_graph=True)
        (ggx,) = t.autograd.grad(gx.sum(), x, allow_unused=True, materialize_grads=True)
        return [gx.detach(), ggx.detach()]

    check(second_derivative)


@pytest.mark.parametrize(
    "expression",
    [
        "x.tanh()",
        "x.sigmoid()",
        "x.relu()",
        "x.softmax(0)",
        "x.log_softmax(0)",
        "w / x",
        "x / w",
        "x.mean()",
        "torch.where(x > 0, x, w)",
        "x.clamp(-0.5, 1.5)",
        "x.clamp_min(0.0)",
        "torch.maximum(x, w)",
        "x.max()",
        "x.amax()",
        "x.norm()",
        "torch.add(w, x, alpha=2)",
        "torch.sub(w, x, alpha=2)",
        "torch.rsub(x, 2.0, alpha=2)",
        "torch.rsub(x, w, alpha=-1.5)",
        "torch.nn.functional.mse_loss(x, w)",
        "x[[0, 0, 2]]",
        "x.repeat(2)",
        "x[1]",
        "x[1:]",
        "x.cumsum(0)",
        "x.exp()",
        "x.abs().sqrt()",
        "x.var()",
        "x ** w",
        "w ** x",
        "x ** 2.0",
        "2 ** x",
        "0 ** x",
        "x * w.unsqueeze(1)",
    ],
)
def test_grad_fn_of_a_differentiable_gradient(expression: str) -> None:
    """Under create_graph a gradient has history; its grad_fn is the formula's last op."""

    def first_derivative(t: ModuleType) -> Any:
        x, w = leaf(t, (0.5, -1.0, 2.0)), leaf(t, (1.0, 2.0, -3.0))
        y = eval(expression, {"torch": t, "x": x, "w": w})
        (gx,) = t.autograd.grad((y * y).sum(), x, create_graph=True)
        return gx

    check(first_derivative)


def _graph_names(node: Any) -> list[Any]:
    """A node's name and, nested, those of its next functions (the graph below it)."""
    if node is None:
        return []
    return [type(node).__name__, [_graph_names(n) for n, _ in node.next_functions]]


@pytest.mark.parametrize("requires_grad", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 1, 1), (1, 1, 1)),
        ((1, 2, 3), (2, 3, 2)),
        ((3, 2, 3), (1, 3, 2)),
        ((1, 2, 3), (1, 3, 2)),
    ],
)
def test_matmul_squeezes_a_batch_of_one_that_requires_grad(
    shapes: Any, requires_grad: tuple[bool, bool]
) -> None:
    """Found by the kit: two 3-D operands, one with a batch of one that requires grad:
    torch squeezes that batch away and folds (mm), else it runs bmm on expanded batches."""

    def graph(t: ModuleType) -> Any:
        a, b = (t.ones(s, requires_grad=r) for s, r in zip(shapes, requires_grad, strict=True))
        y = a @ b
        grads = t.autograd.grad(y.sum(), [v for v in (a, b) if v.requires_grad], create_graph=True)
        return y, _graph_names(y.grad_fn), [_graph_names(g.grad_fn) for g in grads]

    check(graph)


@pytest.mark.parametrize(
    "shapes",
    [
        ((1, 1), (1, 1)),
        ((3, 2, "t"), (3, 2)),
        ((2, 3), (2, 3, "t")),
        ((2, 1), (1, 3)),
        ((3, 1), (1, 1)),
    ],
)
def test_mm_gradient_of_a_column_major_matrix_is_column_major(shapes: Any) -> None:
    """Found by the kit: torch computes a column-major mm input's gradient as the transpose
    of a product (TBackward0 under create_graph), with the input's strides; a 1x1 matrix
    counts as column-major."""

    def gradients(t: ModuleType) -> Any:
        a, b = (
            (t.ones(s[:2]).t() if "t" in s else t.ones(s)).requires_grad_() for s in shapes
        )
        ga, gb = t.autograd.grad(a.mm(b).sum(), [a, b], create_graph=True)
        return ga, gb, ga.stride(), gb.stride()

    check(gradients)


@pytest.mark.parametrize(
    "expression",
    [
        "m.squeeze().exp()",
        "m.squeeze(1).exp()",
        "m.squeeze((0, 1)).exp()",
        "m.squeeze(0).exp()",
        "(s * m).sum()",
        "v @ m.t()",
        "s.repeat(()).exp()",
        "m.repeat(1, 1).exp()",
        "m.repeat(2, 1, 3).exp()",
        "v.repeat(0, 2).exp()",
    ],
)
def test_unsqueeze_to_and_sum_to_under_create_graph(expression: str) -> None:
    """Found by the kit: squeeze's gradient is unsqueezed back (UnsqueezeBackward0, not a
    view); a gradient broadcast from a 0-dim input is summed by a plain sum (SumBackward0);
    repeat's gradient is summed only where something was repeated (none: the gradient
    itself), each added dim by its own sum."""

    def first_derivative(t: ModuleType) -> Any:
        s, v = t.tensor(1.5, requires_grad=True), leaf(t, (1.0,))
        m = t.tensor([[1.0], [2.0]], requires_grad=True)
        y = eval(expression, {"s": s, "v": v, "m": m})
        return t.autograd.grad(y.sum(), [s, v, m], create_graph=True, allow_unused=True)

    check(first_derivative)


@pytest.mark.parametrize(
    "expression",
    [
        "s.T",
        "v.T",
        "v.split(1, 0)",
        "v.chunk(1, 0)",
        "v.unbind(0)",
        "s.cumsum(0)",
        "s.max(dim=0)",
        "s.transpose(0, 0)",
        "s.squeeze(0)",
        "s.argmax(dim=0)",
        "s.expand(())",
        "s.flip(0)",
    ],
)
def test_zero_dim_and_single_piece_edges(expression: str) -> None:
    """Found by the kit: 0-dim tensors have a dim 0 of size 1; split into one piece is a tuple."""

    def edge(t: ModuleType) -> Any:
        s, v = t.tensor(2.0, requires_grad=True), leaf(t, (1.0,))
        out = eval(expression, {"s": s, "v": v})
        first = out[0] if isinstance(out, tuple) else out
        if first.requires_grad:
            first.sum().backward()
        return [out, s.grad, v.grad]

    check(edge)


@scenario
def in_place_on_expanded_tensors(t: ModuleType) -> Any:
    x = t.tensor(1.5, requires_grad=True)
    unexpanded = t.tensor(1.0).expand(())
    unexpanded.add_(x)
    repeated = t.tensor([1.0]).expand(3)
    return [unexpanded, repeated.add_(1)]


@scenario
def setitem_copies_or_fills_as_torch(t: ModuleType) -> Any:
    x = t.tensor(1.5, requires_grad=True)
    a = x * 2.0
    a[()] = 2.0
    b = t.stack((x,), dim=0)
    b[()] = x
    c = t.zeros(2, 3)
    c[:] = t.ones(1, 3)
    return [a, b, c]


@pytest.mark.parametrize(
    "program",
    [
        "a, b = x.unbind(0); b.add_(1)",
        "(p,) = x.split(2, 0); p.mul_(2)",
        "a, b = x.chunk(2, 0); b[0:1].add_(1)",
        "a, b = x.unbind(0); b.detach().neg_(); b.grad_fn",
        "a, b = (x * 1).unbind(0); b.detach().add_(1); (b * 2).sum().backward()",
        "v = c[None]; v.add_(c)",
        "c.add_(c)",
        "c.mul_(c.detach())",
        "d = t.tensor([1.0]); e = d[()]; e[[0]] = d",
        "d = x * 1; d[None] = d",
        "d = t.tensor(-1.0); s = t.ones((), requires_grad=True); p = s**d; p[()] = d; p.backward()",
        "d = x.sum() * 1; e = d.expand((2,)); e[0] = x[0]; e.sum().backward()",
        "x.norm(dim=(0, 1, -1))",
        "d = t.ones(1) * 2; d[None] = d",
        "d = t.ones(3) * 2; d[None] = d; e = t.ones(()).expand(1, 1); a = e.stride()",
        "d = t.tensor([1.0]); e = d[()]; e.neg_(); d[()] = x[0]; e[()] = x[1]",
        "d = t.tensor([1.0]); e = d[()]; d[()] = x[0]; a = e.is_leaf; e[()] = x[1]",
        "d = (x[0] * 1).expand((1,)); d[None] = d; a = d[None].stride()",
        "d = t.ones(2, 3).t(); a = (d[None].stride(), d[:, None].stride(), d[..., None].stride())",
        "d = t.ones(1, 2, 1)[0, :, [0, 0]]; a = (d.stride(), d.contiguous() is d)",
        "d = t.ones(3, 4, 5)[:, [0, 2], :]; a = d.stride()",
        "d = 2.0 ** t.ones(2, 3).transpose(0, 1); a = (d.stride(), d.view(6).shape)",
        "d = x[0] * 2; e = d.view((1,)); e[t.tensor([False])] = d; a = e; b = d",
        "d = x[0] * 2; e = d.view((1,)); e[t.tensor([True])] = d; a = e; b = d",
        "d = x * 1; d[None, t.tensor([True, False])] = d[1:]; a = d",
        "d = x * 1; d[[False, True]] = d[0]; a = d",
        "d = x * 1; d[t.tensor([True, True])] = d; a = d",
        "d = x * 1; d[t.tensor([True, False]), None] = d[1:]; a = d",
        "d = x * 1; d[t.tensor([1])] = d[0]; a = d",
        "d = x * 1; d[True] = d[0]; a = d",
        "d = x * 1; d[True,] = d[0]; a = d",
        "d = x * 1; d[False] = t.ones(5); a = d",
        "d = x * 1; d[False,] = t.ones(5); a = d",
        "d = x * 1; d[True] = t.ones(1, 2) * c; a = d",
        "d = x * 1; d[[1]] = x[:1].view(1, 1, 1); a = d",
        "d = x * 2.0; e = d[1]; e.relu_(); d[1] = x[0]; d.sum().backward()",
        "d = x * 2.0; e = d[1]; e.relu_(); e.add_(1); d.sum().backward()",
        "d = x * 2.0; e = d[1]; e.relu_(); e.add_(1); d.sum().backward(retain_graph=True)",
        "d = x * 2.0; e = d[1]; e.relu_(); d.add_(1); e.backward()",
        "d = x * 2.0; e = d[1]; e.relu_(); del e; d.add_(1); d.sum().backward()",
        "d = x * 2.0; e = d[1]; e.relu_(); f = e * 3; del e; d.add_(1); d.sum().backward()",
        "d = x + 1; d[1:].add_(1); d.sum().backward(); d.sum().backward()",
        "a = t.ones(1).expand(3); a[t.tensor([True, False, True])] = 5.0",
        "a = t.ones(1).expand(3); a[t.tensor([True, True, False])] = t.tensor([5.0, 6.0])",
        "a = t.ones(1).expand(3); a[[0, 2, 1]] = t.tensor([5.0, 6.0, 7.0])",
        "a = t.ones(1).expand(3); a[[0, 2, 1]] = t.tensor([5.0, 6.0])",
        "d = (x + x)[None]; a = d.expand((2, 2)); a[[0]] = x; b = type(a.grad_fn).__name__",
        "d = x.sum() * 1; a = d.expand((2,)); a.fill_(2.0); b = d",
        "d = x * 1; a = d.expand(3, 2); a.zero_(); b = d",
        "d = x * 1; a = d.expand(3, 2); a.fill_(2.0); a.sum().backward()",
        "a = t.ones(2).expand(3, 2); a.fill_(2.0); a.zero_(); a[0].fill_(1.0)",
        "a = t.ones(2).expand(3, 2); a.fill_(c)",
        "a = t.ones(2).expand(3, 2); a.copy_(t.ones(3, 2))",
        "a = t.ones(2).expand(3, 2); a.mul_(2)",
        "d = x.sum() * 1; a = d.expand((2,)); a.copy_(d)",
        "d = x * 1; a = d.expand(3, 2); a.copy_(d)",
        "d = x * 1; a = d.expand(3, 2); a.copy_(a); b = d.expand(3, 2); b.copy_(a)",
        "d = x.sum() * 1; a = d.expand((2,)); a.masked_fill_(t.tensor(False), 2.0); b = d",
        "d = x * 1; a = d.expand(3, 2); a.masked_fill_(t.tensor([True, False]), c); b = d",
        "a = t.ones(2).expand(3, 2); a.masked_fill_(t.tensor([False, True]), 5.0)",
        "d = x * 1; d.masked_fill_(t.tensor([True, False]), d[1]); a = d",
        "d = x * 1; d.masked_fill_(t.tensor([True, False]), c); d.sum().backward(); a = c.grad",
        "d = t.ones(2); d.masked_fill_(t.tensor([True, False]), c * x[0]); a = d",
        # index_put_ with the very tensor written to: full overlap, even for a layout torch
        # does not judge otherwise (a strided view) and for an empty tensor.
        "a = t.ones(3, 2).select(1, 0); a[[0, 1, 2]] = a",
        "a = t.ones(3, 2).select(1, 0); a[t.tensor([True, True, True])] = a",
        "a = t.ones(0); a[t.tensor([], dtype=t.long)] = a",
        "a = t.ones(3, 2).select(1, 0); a[[0, 1, 2]] = a.expand(3); a.add_(a)",
    ],
)
def test_views_and_overlap_rules(program: str) -> None:
    """Found by the kit: multi-output views, partial memory overlap, matrix norm dims; setitem
    with one bool mask and a one-element value is a masked_fill_ (no overlap check), a lone
    True / False index takes torch's shortcuts, and a value's leading 1s are viewed away.
    The output an in-place op on a view saves names the view's AsStridedBackward0 in the
    version error while that node lives, else the op's node (CopySlices drops its op on
    release, so a second backward through it fails). index_put_ into an expanded tensor
    only warns, and writes the selected elements in order; so does masked_fill_ (which reads
    a tensor value as a number: it may overlap); filling one with a number (fill_, zero_)
    is allowed, but backward through it then fails in CopySlices."""

    def run_program(t: ModuleType) -> Any:
        names = {"x": leaf(t, (1.0, 2.0)), "c": t.tensor(1.5), "t": t}
        names["x"] = names["x"] if "norm" not in program else t.ones(2, 2, 2)
        exec(program, names)
        return names.get("a"), names.get("b"), names["c"]

    check(run_program)


@pytest.mark.parametrize(
    "program",
    [
        "a = m.t() + t.ones(3, 2)",
        "a = t.ones(3, 2) + m.t()",
        "a = m.t() * t.ones(2)",
        "a = t.ones(2) * m.t()",
        "a = m.t()[:, None] - t.ones(3, 4, 2)",
        "a = t.where(m.t() > 0, t.ones(3, 2), m.t())",
        "a = t.where(t.ones(3, 2) > 0, m.t(), t.ones(3, 2))",
        "a = m.t().clamp(min=t.zeros(3, 2), max=t.ones(3, 2))",
        "a = t.maximum(t.ones(3, 1, 2).permute(2, 1, 0), t.ones(2, 4, 3))",
        "a = m.t()[::2] + t.ones(2, 2)",
        "a = (m.t() + t.ones(3, 2)) + t.ones(3, 2)",
        "a = m.t() == t.ones(3, 2)",
    ],
)
def test_elementwise_results_are_laid_out_as_torch_lays_them_out(program: str) -> None:
    """Found by the kit: with inputs laid out differently, torch's result follows the first
    input that can tell (TensorIterator), where NumPy's falls back to C order. The layout
    shows in stride(), is_contiguous() and whether view() works."""

    def run_program(t: ModuleType) -> Any:
        names = {"m": t.arange(6.0).reshape(2, 3), "t": t}
        exec(program, names)
        a = names["a"]
        try:
            flat: Any = a.view(-1)
        except RuntimeError as error:
            flat = str(error)
        return a, a.stride(), a.is_contiguous(), flat

    check(run_program)


@pytest.mark.parametrize(
    "program",
    [
        "m[:, [1]]",
        "m[:, t.tensor([3])]",
        "m[None, 0, [5]]",
        "m[..., [-4]]",
        "m[[0], :, [1]]",
        "m[True, :, [5]]",
        "m[t.tensor([True, False]), :, [5]]",
        "m[t.tensor([[True, False, True], [True, True, True]]), [5]]",
        "m[[[0], [7]], [0, 5, 1]]",
        "m[[0, 1], [0, 0, 1]]",
        "m[[5], []]",
        "e[:, [5]]",
        "e[[0]]",
        "e[[]]",
        "m[:, [5]] = 1.0",
        "m[[0, 5], [7, 0]] = t.ones(3)",
        "m[[0, 1], [0, 0, 1]] = 1.0",
        "e[[5]] = t.ones(2)",
        "e.t()[[1], :] = 2.0",
        "m[[0, 1]] = t.ones(3, 1, dtype=t.float64)",
        "m[[0, 5]] = t.ones(1, dtype=t.float64)",
        "m[[0, 1]] = t.ones(4, 1, dtype=t.float64)",
        "m[[0], [0, 5]] = t.ones(3, dtype=t.float64)",
        "m[[0], 0, [0]] = t.tensor(2)",
        "m[t.tensor(True), [0]] = t.ones(1, dtype=t.float16)",
        "e[[]] = t.ones(0, dtype=t.float64)",
        "e[[5]] = t.ones(3, dtype=t.float64)",
        "m[m > 0] = t.tensor(2, dtype=t.float64)",
        "m[m > 0] = t.ones(1, 1, dtype=t.int64)",
        "m[m > 5] = t.ones(0, dtype=t.int64)",
        "m[m > 0] = t.ones(12, dtype=t.float64)",
        "m.expand(2, 3, 4)[[0]] = t.ones(4, dtype=t.float64)",
        "m.expand(2, 3, 4)[m.expand(2, 3, 4) > 0] = t.tensor(2, dtype=t.float64)",
    ],
)
def test_index_errors(program: str) -> None:
    """Found by the kit: an index out of bounds is named by its position among the index
    tensors, at the first element read (torch's kernel); broadcast, empty-dim and value-shape
    errors come first, in torch's order; nothing indexed, nothing checked. A value tensor of
    another dtype is refused after the value's shape is checked and before any index is
    read, but not when one bool mask and a one-element value make it a masked_fill_."""

    def run_program(t: ModuleType) -> Any:
        names = {"m": t.ones(2, 3, 1), "e": t.ones(0, 3), "t": t}
        exec(f"r = {program}" if "=" not in program else program, names)
        return names.get("r"), names["m"], names["e"]

    check(run_program)


@pytest.mark.parametrize(
    "expression",
    ["s.prod()", "s.prod(0)", "v.prod()", "v.prod(0)", "s.gather(0, i)", "s.cumsum(0)"],
)
def test_trivial_backward_cases(expression: str) -> None:
    """torch returns the incoming gradient itself in these cases (it shows with create_graph)."""

    def first_derivative(t: ModuleType) -> Any:
        s, v = t.tensor(1.5, requires_grad=True), leaf(t, (2.0,))
        y = eval(expression, {"s": s, "v": v, "i": t.tensor(0)})
        gx = t.autograd.grad(y, [s, v], create_graph=True, allow_unused=True)
        return gx

    check(first_derivative)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    check(SCENARIOS[name])
