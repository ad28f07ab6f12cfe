"""The backward engine's own guarantees: deep graphs, and order of execution."""

from __future__ import annotations

import refgrad


def test_a_100000_op_chain_backpropagates_without_recursion() -> None:
    x = refgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [1.0, 1.0]
    del y  # freeing the chain must not overflow the C stack either


def test_a_deep_chain_under_autograd_grad_with_inputs() -> None:
    x = refgrad.tensor(2.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 0.0
    (gx,) = refgrad.autograd.grad(y, x)
    assert gx.item() == 1.0


def test_nodes_run_once_even_with_many_paths() -> None:
    # A ladder where each rung doubles the number of paths: 2**40 paths, 80 nodes.
    x = refgrad.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(40):
        y = y + y
    y.backward()
    assert x.grad is not None
    assert x.grad.item() == 2.0**40
