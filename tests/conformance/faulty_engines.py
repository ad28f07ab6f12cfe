"""A gallery of deliberately faulty engines: torch with one thing wrong.

Each is a `TorchLikeEngine` over torch that breaks one behaviour, and says which
behaviour the kit should catch it in (`CAUGHT_IN`). The kit's tests check that each is
caught there, and not in behaviours that cannot show the fault. Usable as engine specs:
``tests.conformance.faulty_engines:OverwritingBackward``.

Adding a fault: subclass `FaultyEngine`, set `caught_in`, override one adapter method.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import torch

from conformance.engines.protocol import Hook
from conformance.engines.torchlike import TorchLikeEngine


class FaultyEngine(TorchLikeEngine):
    caught_in: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(torch, name=f"faulty.{type(self).__name__}")


class OverwritingBackward(FaultyEngine):
    """backward() overwrites leaves' .grad instead of accumulating into it."""

    caught_in = "accumulation"

    def __init__(self) -> None:
        super().__init__()
        self._leaves: list[weakref.ref[torch.Tensor]] = []

    def tensor(self, values: Any, requires_grad: bool) -> Any:
        leaf = super().tensor(values, requires_grad)
        self._leaves.append(weakref.ref(leaf))
        return leaf

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        for ref in self._leaves:
            leaf = ref()
            if leaf is not None and leaf.requires_grad:
                leaf.grad = None
        super().backward(root, gradient, retain_graph=retain_graph, create_graph=create_graph,
                         inputs=inputs)


class _NegatedSin(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return -grad * x.cos()


class WrongSinGradient(FaultyEngine):
    """sin's derivative has the wrong sign (its grad_fn still says SinBackward0)."""

    caught_in = "gradients"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if op == "sin":
            return _NegatedSin.apply(args[0])
        return super().apply(op, args, kwargs)

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        requires_grad, is_leaf, grad_fn = super().flags(tensor)
        return requires_grad, is_leaf, "SinBackward0" if grad_fn == "_NegatedSinBackward" \
            else grad_fn


class WrongTanhValue(FaultyEngine):
    """tanh is 1% off."""

    caught_in = "values"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        return result * 1.01 if op == "tanh" else result


class WrongGradFnName(FaultyEngine):
    """Reports `MulBackward` where torch says `MulBackward0`."""

    caught_in = "metadata"

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        requires_grad, is_leaf, grad_fn = super().flags(tensor)
        return requires_grad, is_leaf, "MulBackward" if grad_fn == "MulBackward0" else grad_fn


class AlwaysRetainGraph(FaultyEngine):
    """Never frees the graph, so a second backward never raises."""

    caught_in = "retain_graph"

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        super().backward(root, gradient, retain_graph=True, create_graph=create_graph,
                         inputs=inputs)


class NoGradIgnored(FaultyEngine):
    """`no_grad()` does nothing."""

    caught_in = "no_grad"

    def grad_mode(self, mode: str, enabled: bool) -> AbstractContextManager[Any]:
        return contextlib.nullcontext() if mode == "no_grad" else super().grad_mode(mode, enabled)


class DataCopies(FaultyEngine):
    """`.data` is a copy, so changing it does not change the tensor."""

    caught_in = "data"

    def data(self, tensor: Any) -> Any:
        return tensor.detach().clone()


class DetachCopies(FaultyEngine):
    """`detach()` copies: no shared storage, no shared version counter."""

    caught_in = "detach"

    def detach(self, tensor: Any) -> Any:
        return tensor.detach().clone()


class HooksIgnored(FaultyEngine):
    """register_hook accepts hooks and never calls them."""

    caught_in = "hooks"

    def register_hook(self, tensor: Any, hook: Hook) -> None:
        return None


class CreateGraphIgnored(FaultyEngine):
    """create_graph=True is ignored: gradients are never differentiable."""

    caught_in = "higher_order"

    def autograd_grad(self, outputs: Sequence[Any], inputs: Sequence[Any],
                      grad_outputs: Sequence[Any] | None, *, retain_graph: bool | None,
                      create_graph: bool, allow_unused: bool) -> Sequence[Any | None]:
        return super().autograd_grad(outputs, inputs, grad_outputs, retain_graph=retain_graph,
                                     create_graph=False, allow_unused=allow_unused)


class WrongNonScalarMessage(FaultyEngine):
    """Rejects implicit backward of a non-scalar with its own wording."""

    caught_in = "errors"

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        if gradient is None and root.numel() != 1:
            raise RuntimeError("backward() needs a scalar output")
        super().backward(root, gradient, retain_graph=retain_graph, create_graph=create_graph,
                         inputs=inputs)


class GarbageResults(FaultyEngine):
    """`exp` returns a list: the kit must record it, not crash."""

    caught_in = "values"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        return result.tolist() if op == "exp" else result


class ExplodingOp(FaultyEngine):
    """`abs` raises an exception torch never raises."""

    caught_in = "values"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if op == "abs":
            raise ValueError("abs is not implemented")
        return super().apply(op, args, kwargs)


GALLERY: tuple[type[FaultyEngine], ...] = (
    WrongTanhValue, GarbageResults, ExplodingOp, WrongGradFnName, WrongSinGradient,
    OverwritingBackward, AlwaysRetainGraph, NoGradIgnored, DataCopies, DetachCopies,
    HooksIgnored, CreateGraphIgnored, WrongNonScalarMessage,
)


class MissingMethods:
    """Not an engine: lacks most of the protocol (for the bad-spec tests)."""

    name = "missing"
    version = "0"
    capabilities: frozenset[str] = frozenset()

    def tensor(self, values: Any, requires_grad: bool) -> Any:
        return values
