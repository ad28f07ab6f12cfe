"""The engine adapter protocol: what the kit needs from an autograd engine.

An engine is any object with the small *required core* below. Everything else is an
optional capability, declared in `capabilities`; a program step that needs a capability
the engine does not declare is recorded as "not applicable" (and counted in the report),
never passed silently.

Tensors are opaque to the kit: it only hands back to the engine what the engine gave it,
and reads values through `to_numpy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # keeps `import conformance.engines` cheap (the pytest plugin uses it)
    import numpy as np

# Optional capabilities (strings, so adapters need not import the kit to declare them).
FLAGS = "flags"                    # flags(t): requires_grad and is_leaf
GRAD_FN_NAMES = "grad_fn_names"    # flags(t) also reports torch's grad_fn class name
FLOAT64 = "float64"                # leaves of dtype float64
GRAD_MODE = "grad_mode"            # grad_mode(...): no_grad / enable_grad / set_grad_enabled
DETACH = "detach"                  # detach(t): shares storage (and version counter)
DATA = "data"                      # data(t): the `.data` alias autograd does not track
REQUIRES_GRAD_ = "requires_grad_"  # requires_grad_(t, flag)
RETAIN_GRAD = "retain_grad"        # retain_grad(t)
RETAIN_GRAPH = "retain_graph"      # backward(..., retain_graph=True)
CREATE_GRAPH = "create_graph"      # backward/autograd_grad(..., create_graph=True)
BACKWARD_INPUTS = "backward_inputs"  # backward(..., inputs=[...])
AUTOGRAD_GRAD = "autograd_grad"    # autograd_grad(...): torch.autograd.grad
HOOKS = "hooks"                    # register_hook(t, hook)
INPLACE = "inplace"                # inplace(t, method, args): `t.add_(..)` and friends
RESET_GRAD = "reset_grad"          # reset_grad(t, how): grad.zero_(), grad.data.zero_(), = None
ERRORS = "errors"                  # raises torch's exception classes with torch's messages
WARNINGS = "warnings"              # emits torch's warnings (compared by category and text)
INTEGER_LEAVES = "integer_leaves"  # tensor(...) of int64 and bool arrays (indices, masks)
SETITEM = "setitem"                # setitem(t, index, value): `t[index] = value`
ASSIGN_GRAD = "assign_grad"        # assign_grad(t, value): `t.grad = value`

ALL_CAPABILITIES: frozenset[str] = frozenset({
    FLAGS, GRAD_FN_NAMES, FLOAT64, GRAD_MODE, DETACH, DATA, REQUIRES_GRAD_, RETAIN_GRAD,
    RETAIN_GRAPH, CREATE_GRAPH, BACKWARD_INPUTS, AUTOGRAD_GRAD, HOOKS, INPLACE, RESET_GRAD,
    ERRORS, WARNINGS, INTEGER_LEAVES, SETITEM, ASSIGN_GRAD,
})

REQUIRED_MEMBERS: tuple[str, ...] = (
    "name", "version", "capabilities", "tensor", "to_numpy", "apply", "backward", "grad",
)

# The method each capability needs (capabilities without one are behaviours of the core).
CAPABILITY_METHODS: Mapping[str, str] = {
    FLAGS: "flags", GRAD_FN_NAMES: "flags", GRAD_MODE: "grad_mode", DETACH: "detach",
    DATA: "data", REQUIRES_GRAD_: "requires_grad_", RETAIN_GRAD: "retain_grad",
    AUTOGRAD_GRAD: "autograd_grad", HOOKS: "register_hook", INPLACE: "inplace",
    RESET_GRAD: "reset_grad", SETITEM: "setitem", ASSIGN_GRAD: "assign_grad",
}

Hook = Callable[[Any], Any]


@runtime_checkable
class Engine(Protocol):
    """The required core. Optional methods are listed in `EngineBase`."""

    name: str
    version: str
    capabilities: frozenset[str]

    def tensor(self, values: np.ndarray, requires_grad: bool) -> Any:
        """A leaf from an array (float32 or float64; int64 or bool with `integer_leaves`),
        requiring grad or not."""

    def to_numpy(self, tensor: Any) -> np.ndarray:
        """The tensor's values as a fresh NumPy array (a copy: later mutation must not show)."""

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """Run a catalogue op by torch name; a tuple for multi-output ops (`max(dim=..)`)."""

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        """`root.backward(gradient, ...)`, accumulating into leaves' gradients."""

    def grad(self, tensor: Any) -> Any | None:
        """The tensor's `.grad` (None if it has none)."""


class EngineBase:
    """Optional base class for adapters: the optional methods, documented.

    Each raises NotImplementedError; declare a capability only if you implement its method.
    """

    name: str = "engine"
    version: str = "unknown"
    capabilities: frozenset[str] = frozenset()

    def supports(self, op: str) -> bool:
        """Whether `apply` can run this catalogue op (unsupported ops are not applicable)."""
        return True

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        """(requires_grad, is_leaf, grad_fn class name or None)."""
        raise NotImplementedError

    def grad_mode(self, mode: str, enabled: bool) -> AbstractContextManager[Any]:
        """A context manager for "no_grad", "enable_grad" or "set_grad_enabled"(enabled)."""
        raise NotImplementedError

    def detach(self, tensor: Any) -> Any:
        raise NotImplementedError

    def data(self, tensor: Any) -> Any:
        raise NotImplementedError

    def requires_grad_(self, tensor: Any, requires_grad: bool) -> None:
        raise NotImplementedError

    def retain_grad(self, tensor: Any) -> None:
        raise NotImplementedError

    def autograd_grad(self, outputs: Sequence[Any], inputs: Sequence[Any],
                      grad_outputs: Sequence[Any] | None, *, retain_graph: bool | None,
                      create_graph: bool, allow_unused: bool) -> Sequence[Any | None]:
        raise NotImplementedError

    def register_hook(self, tensor: Any, hook: Hook) -> None:
        """Call `hook(grad)` when the tensor's gradient is computed; a non-None result
        replaces the gradient."""
        raise NotImplementedError

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        """`tensor.<method>(*args)` for in-place methods such as `add_`, `mul_`, `zero_`."""
        raise NotImplementedError

    def reset_grad(self, tensor: Any, how: str) -> None:
        """how: "zero_" (`t.grad.zero_()`), "data.zero_" or "none" (`t.grad = None`)."""
        raise NotImplementedError

    def setitem(self, tensor: Any, index: Any, value: Any) -> None:
        """`tensor[index] = value`: `index` is a Python index (ints, slices, None, `...`,
        lists, the engine's int64/bool tensors), `value` a tensor or a Python number."""
        raise NotImplementedError

    def assign_grad(self, tensor: Any, value: Any) -> None:
        """`tensor.grad = value` (an engine tensor)."""
        raise NotImplementedError


class NotApplicable(Exception):
    """Raised by an adapter when the engine has no counterpart for one particular call.

    For what a capability cannot say in advance: a functional engine asked for a second
    backward into `.grad`, or for torch's "does not require grad" error. The step is
    recorded as not applicable, with this message as the reason (the report counts
    reasons, so keep the message free of tensor names and values).
    """


class EngineSpecError(Exception):
    """A bad engine spec or adapter; the message is one line naming what is wrong."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (messages in the kit's errors are one line)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
