"""A gallery of deliberately faulty engines: torch with one thing wrong.

Each is a `TorchLikeEngine` over torch with exactly one realistic fault, and says which
behaviour the kit should catch it in (`caught_in`). The kit's tests check that the `ci`
profile catches each there, and in no behaviour checked before it. Usable as engine specs:
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
    op: ClassVar[str] = "tanh"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        return result * 1.01 if op == self.op else result


class WrongSqrtValue(WrongTanhValue):
    """sqrt is 1% off (a Newton step short). In the gallery rather than tanh, which
    the values behaviour seldom draws."""

    op = "sqrt"


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


class InplaceNotRecorded(FaultyEngine):
    """In-place ops on tensors that require grad run as if under no_grad: values change,
    but the graph never learns (no new grad_fn, gradients ignore the op)."""

    caught_in = "inplace"

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        if not tensor.requires_grad:
            super().inplace(tensor, method, args)
            return
        with torch.no_grad():
            super().inplace(tensor, method, args)


class SetItemNotRecorded(FaultyEngine):
    """`t[index] = value` runs as if under no_grad: values change, the graph never learns
    (no CopySlices, no gradient to the value)."""

    caught_in = "views"

    def setitem(self, tensor: Any, index: Any, value: Any) -> None:
        with torch.no_grad():
            super().setitem(tensor, index, value)


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
    """`a - b` returns a list: the kit must record it, not crash."""

    caught_in = "values"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        return result.tolist() if op == "sub" else result


class ExplodingOp(FaultyEngine):
    """Indexing (`t[...]`) raises an exception torch never raises."""

    caught_in = "values"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if op.startswith("getitem"):
            raise NotImplementedError("indexing is not implemented")
        return super().apply(op, args, kwargs)


class DataSharesVersion(FaultyEngine):
    """`.data` shares the version counter (it is `detach()`), so changes through it are
    tracked and a later backward rejects them."""

    caught_in = "data"

    def data(self, tensor: Any) -> Any:
        return tensor.detach()


class UnreducedBroadcastGradient(FaultyEngine):
    """A leaf broadcast by an elementwise op gets the broadcast-shaped gradient from
    backward(): it is never summed back to the leaf's shape."""

    caught_in = "gradients"
    _BROADCASTING = frozenset({"add", "sub", "mul", "div", "maximum", "minimum"})

    def __init__(self) -> None:
        super().__init__()
        self._in_backward = False

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if op not in self._BROADCASTING or len(tensors) < 2:
            return super().apply(op, args, kwargs)
        shape = torch.broadcast_shapes(*(t.shape for t in tensors))
        return super().apply(op, [self._unreduced(a, shape) for a in args], kwargs)

    def _unreduced(self, arg: Any, shape: torch.Size) -> Any:
        # (0-dim operands stay as they are: expanding them would change type promotion.)
        if not (isinstance(arg, torch.Tensor) and arg.is_leaf and arg.requires_grad
                and arg.dim() > 0 and arg.shape != shape):
            return arg
        expanded = arg.expand(shape)

        def keep(grad: torch.Tensor) -> None:
            if not self._in_backward:  # autograd.grad() leaves .grad alone
                return
            before = getattr(arg, "unreduced_grad", None)
            total = before + grad if before is not None and before.shape == grad.shape \
                else grad.clone()
            arg.unreduced_grad = total  # type: ignore[attr-defined]

        expanded.register_hook(keep)
        return expanded

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        self._in_backward = True
        try:
            super().backward(root, gradient, retain_graph=retain_graph,
                             create_graph=create_graph, inputs=inputs)
        finally:
            self._in_backward = False

    def grad(self, tensor: Any) -> Any | None:
        unreduced = getattr(tensor, "unreduced_grad", None)
        return tensor.grad if unreduced is None else unreduced


class _FirstWinner(torch.autograd.Function):
    """max/min/amax/amin over some dims whose gradient goes to one element per slice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, op: str, dims: tuple[int, ...],
                keepdim: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.op, ctx.dims, ctx.keepdim = op, dims, keepdim
        return x.amax(dims, keepdim) if op in ("max", "amax") else x.amin(dims, keepdim)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        kept = [d for d in range(x.dim()) if d not in ctx.dims]
        order = kept + list(ctx.dims)
        moved = x.permute(order)
        flat = moved.reshape(*moved.shape[: len(kept)], -1)
        pick = flat.argmax(-1, keepdim=True) if ctx.op in ("max", "amax") \
            else flat.argmin(-1, keepdim=True)
        winner = torch.zeros_like(flat).scatter_(-1, pick, 1.0).reshape(moved.shape)
        winner = winner.permute([order.index(d) for d in range(x.dim())])
        if not ctx.keepdim:
            for d in sorted(ctx.dims):
                grad = grad.unsqueeze(d)
        return grad * winner, None, None, None


class _FirstOperandWins(torch.autograd.Function):
    """maximum/minimum whose gradient at ties goes to the first operand only."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, op: str) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.op = op
        return torch.maximum(a, b) if op == "maximum" else torch.minimum(a, b)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b = ctx.saved_tensors
        first = a >= b if ctx.op == "maximum" else a <= b
        return grad * first, grad * ~first, None


# torch's node for each op whose ties the faulty engine breaks.
_TIE_BREAKING = {"max": "MaxBackward1", "min": "MinBackward1", "amax": "AmaxBackward0",
                 "amin": "AminBackward0", "maximum": "MaximumBackward0",
                 "minimum": "MinimumBackward0"}


class TiesToOneElement(FaultyEngine):
    """At ties, the whole gradient goes to one element: the first extremum of a max, min,
    amax or amin over whole slices, the first operand of maximum/minimum (torch shares
    it evenly among the tied elements)."""

    caught_in = "gradients"

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if op not in _TIE_BREAKING or not isinstance(result, torch.Tensor) \
                or not any(t.requires_grad for t in tensors):
            return result  # (max/min with a dim return indices too: torch picks one)
        if op in ("maximum", "minimum"):
            faulty = _FirstOperandWins.apply(args[0], args[1], op)
        else:
            x = args[0]
            dims = self._dims(x, op, args[1:], kwargs)
            faulty = _FirstWinner.apply(x, op, dims, bool(kwargs.get("keepdim", False)))
        faulty.faulty_grad_fn = _TIE_BREAKING[op]  # what flags() reports
        return faulty

    @staticmethod
    def _dims(x: torch.Tensor, op: str, args: Sequence[Any],
              kwargs: Mapping[str, Any]) -> tuple[int, ...]:
        dim = kwargs.get("dim", args[0] if args else None)
        if dim is None or dim == () or op in ("max", "min") or x.dim() == 0:
            return tuple(range(x.dim()))
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        return tuple(sorted(d % x.dim() for d in dims))

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        requires_grad, is_leaf, grad_fn = super().flags(tensor)
        return requires_grad, is_leaf, getattr(tensor, "faulty_grad_fn", grad_fn)


class Float32GradsOfFloat64(FaultyEngine):
    """float64 leaves get float32 gradients (the engine accumulates in float32)."""

    caught_in = "gradients"

    def grad(self, tensor: Any) -> Any | None:
        grad = tensor.grad
        return grad.float() if grad is not None and grad.dtype == torch.float64 else grad


class RetainGradIgnored(FaultyEngine):
    """`retain_grad()` does nothing: non-leaves never get a `.grad`."""

    caught_in = "accumulation"

    def retain_grad(self, tensor: Any) -> None:
        return None


class VersionNotChecked(FaultyEngine):
    """Saved tensors carry no version check: backward silently uses values changed in
    place after they were saved."""

    caught_in = "detach"  # an in-place change through a detached alias is the first seen

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        with torch.autograd.graph.saved_tensors_hooks(_same, _same):
            return super().apply(op, args, kwargs)

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        with torch.autograd.graph.saved_tensors_hooks(_same, _same):
            super().inplace(tensor, method, args)


def _same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class ZeroNotInPlace(FaultyEngine):
    """`zero_()` returns a zeroed copy and leaves the tensor as it was (so does
    `x.grad.zero_()`)."""

    caught_in = "accumulation"

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        if method == "zero_":
            torch.zeros_like(tensor)
            return
        super().inplace(tensor, method, args)

    def reset_grad(self, tensor: Any, how: str) -> None:
        if how != "none":
            torch.zeros_like(tensor.grad)
            return
        super().reset_grad(tensor, how)


class HookOrderReversed(FaultyEngine):
    """A tensor's hooks run in reverse order of registration (torch: in order)."""

    caught_in = "hooks"

    def register_hook(self, tensor: Any, hook: Hook) -> None:
        # Re-register all of the tensor's hooks, newest first.
        hooks = [hook, *getattr(tensor, "faulty_hooks", ())]
        for handle in getattr(tensor, "faulty_handles", ()):
            handle.remove()
        tensor.faulty_hooks = hooks
        tensor.faulty_handles = [tensor.register_hook(h) for h in hooks]


class SqrtSlightlyOff(FaultyEngine):
    """sqrt is 3e-5 relatively off in every precision (a wrong constant, say): slight in
    float32, where it could pass for rounding, but still there in float64."""

    caught_in = "values"
    float32_only: ClassVar[bool] = False

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        if op == "sqrt" and (result.dtype == torch.float32 or not self.float32_only):
            result.data.mul_(1 + 3e-5)  # (.data: the saved result, so the gradient agrees)
        return result


GALLERY: tuple[type[FaultyEngine], ...] = (
    WrongSqrtValue, SqrtSlightlyOff, GarbageResults, ExplodingOp, WrongGradFnName,
    WrongSinGradient, UnreducedBroadcastGradient, TiesToOneElement, Float32GradsOfFloat64,
    OverwritingBackward, RetainGradIgnored, ZeroNotInPlace, AlwaysRetainGraph, NoGradIgnored,
    DataCopies, DataSharesVersion, DetachCopies, VersionNotChecked, InplaceNotRecorded,
    SetItemNotRecorded, HooksIgnored, HookOrderReversed, CreateGraphIgnored, WrongNonScalarMessage,
)


class MissingMethods:
    """Not an engine: lacks most of the protocol (for the bad-spec tests)."""

    name = "missing"
    version = "0"
    capabilities: frozenset[str] = frozenset()

    def tensor(self, values: Any, requires_grad: bool) -> Any:
        return values


class SqrtRoundedDifferentlyInFloat32(SqrtSlightlyOff):
    """Not faulty by the kit's rules: float32 sqrt is off by a few tolerances, as an engine
    rounding differently might be, and float64 sqrt is torch's (compare.py: rounding)."""

    float32_only = True
