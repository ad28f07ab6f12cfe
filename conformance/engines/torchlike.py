"""`TorchLikeEngine`: the generic adapter for any module that looks like torch.

It serves torch (the oracle), refgrad, and any other module with torch's API
(`module.tensor`, `t.backward()`, `t.grad`, ...). Capabilities are probed from what the
module actually has, so a half-built engine gets "not applicable" for what it lacks
instead of a flood of AttributeErrors.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.catalogue import CATALOGUE
from conformance.engines import protocol as caps
from conformance.engines.protocol import EngineBase, EngineSpecError, Hook, first_line

Invoker = Callable[[Sequence[Any], Mapping[str, Any]], Any]


class TorchLikeEngine(EngineBase):
    """Adapter for a torch-like module (see the module docstring)."""

    def __init__(self, module: types.ModuleType, name: str | None = None) -> None:
        missing = [attr for attr in ("tensor", "float32") if not hasattr(module, attr)]
        if missing:
            raise EngineSpecError(
                f"module {module.__name__!r} is not torch-like: it has no {', '.join(missing)}")
        self.module = module
        self.name = name or module.__name__
        self.version = str(getattr(module, "__version__", "unknown"))
        try:
            self._tensor_type: type = type(module.tensor([0.0]))
        except Exception as error:  # a broken engine must be reported, not crash the kit
            raise EngineSpecError(f"module {module.__name__!r}: tensor([0.0]) raised "
                                  f"{type(error).__name__}: {first_line(error)}") from None
        self._dtypes = {name: getattr(module, name, None)
                        for name in ("float32", "float64", "int64", "bool")}
        self._invokers: dict[str, Invoker] = {}
        self.capabilities = self._probe_capabilities()
        # torch warns some things only once per process (TORCH_WARN_ONCE); a program's
        # warnings must not depend on which programs ran before it.
        set_warn_always = getattr(module, "set_warn_always", None)
        if callable(set_warn_always):
            set_warn_always(True)

    def _probe_capabilities(self) -> frozenset[str]:
        module, tensor_type = self.module, self._tensor_type
        found = {caps.FLAGS, caps.GRAD_FN_NAMES, caps.RETAIN_GRAPH, caps.CREATE_GRAPH,
                 caps.BACKWARD_INPUTS, caps.RESET_GRAD, caps.ERRORS, caps.WARNINGS}
        if self._dtypes["float64"] is not None:
            found.add(caps.FLOAT64)
        if self._dtypes["int64"] is not None and self._dtypes["bool"] is not None:
            found.add(caps.INTEGER_LEAVES)
        if all(hasattr(module, f) for f in ("no_grad", "enable_grad", "set_grad_enabled")):
            found.add(caps.GRAD_MODE)
        autograd = getattr(module, "autograd", None)
        if autograd is not None and hasattr(autograd, "grad"):
            found.add(caps.AUTOGRAD_GRAD)
        methods = {caps.DETACH: "detach", caps.DATA: "data", caps.REQUIRES_GRAD_:
                   "requires_grad_", caps.RETAIN_GRAD: "retain_grad",
                   caps.HOOKS: "register_hook", caps.INPLACE: "add_",
                   caps.SETITEM: "__setitem__", caps.ASSIGN_GRAD: "grad"}
        found |= {cap for cap, attr in methods.items() if hasattr(tensor_type, attr)}
        return frozenset(found)

    # ----------------------------------------------------------------- required core

    def tensor(self, values: np.ndarray, requires_grad: bool) -> Any:
        dtype = self._dtypes[values.dtype.name]
        return self.module.tensor(values, dtype=dtype, requires_grad=requires_grad)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        detached = tensor.detach()
        if getattr(detached, "_is_zerotensor", lambda: False)():
            # torch's efficient zero gradient (of sgn, ...) refuses numpy(), and numpy(force=True)
            # segfaults torch 2.13 for a view of one (sgn through cat): build the zeros here.
            dtype = str(detached.dtype).rsplit(".", 1)[-1]  # "torch.float32" -> "float32"
            return np.zeros(tuple(detached.shape), dtype=np.dtype(dtype))
        array = detached.numpy()
        if not isinstance(array, np.ndarray):
            raise TypeError(f"numpy() returned {type(array).__name__}, not an ndarray")
        return array.copy()  # the engine may mutate its storage later

    def supports(self, op: str) -> bool:
        spec = CATALOGUE.get(op)
        return spec is not None and spec.call.available(self.module, self._tensor_type)

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        invoker = self._invokers.get(op)
        if invoker is None:
            invoker = self._invokers[op] = CATALOGUE[op].call.invoker(self.module)
        result = invoker(args, kwargs)
        return tuple(result) if isinstance(result, tuple) else result

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        # Pass only what the program sets, so engines with a smaller signature still work.
        kwargs: dict[str, Any] = {}
        if retain_graph is not None:
            kwargs["retain_graph"] = retain_graph
        if create_graph:
            kwargs["create_graph"] = True
        if inputs is not None:
            kwargs["inputs"] = list(inputs)
        if gradient is None:
            root.backward(**kwargs)
        else:
            root.backward(gradient, **kwargs)

    def grad(self, tensor: Any) -> Any | None:
        return tensor.grad

    # ----------------------------------------------------------------- capabilities

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        grad_fn = tensor.grad_fn
        return (bool(tensor.requires_grad), bool(tensor.is_leaf),
                None if grad_fn is None else type(grad_fn).__name__)

    def grad_mode(self, mode: str, enabled: bool) -> AbstractContextManager[Any]:
        if mode == "set_grad_enabled":
            return self.module.set_grad_enabled(enabled)
        return getattr(self.module, mode)()

    def detach(self, tensor: Any) -> Any:
        return tensor.detach()

    def data(self, tensor: Any) -> Any:
        return tensor.data

    def requires_grad_(self, tensor: Any, requires_grad: bool) -> None:
        tensor.requires_grad_(requires_grad)

    def retain_grad(self, tensor: Any) -> None:
        tensor.retain_grad()

    def autograd_grad(self, outputs: Sequence[Any], inputs: Sequence[Any],
                      grad_outputs: Sequence[Any] | None, *, retain_graph: bool | None,
                      create_graph: bool, allow_unused: bool) -> Sequence[Any | None]:
        kwargs: dict[str, Any] = {}
        if grad_outputs is not None:
            kwargs["grad_outputs"] = list(grad_outputs)
        if retain_graph is not None:
            kwargs["retain_graph"] = retain_graph
        if create_graph:
            kwargs["create_graph"] = True
        if allow_unused:
            kwargs["allow_unused"] = True
        return tuple(self.module.autograd.grad(list(outputs), list(inputs), **kwargs))

    def register_hook(self, tensor: Any, hook: Hook) -> None:
        tensor.register_hook(hook)

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        getattr(tensor, method)(*args)

    def reset_grad(self, tensor: Any, how: str) -> None:
        if how == "none":
            tensor.grad = None
        elif how == "zero_":
            tensor.grad.zero_()
        else:
            tensor.grad.data.zero_()

    def setitem(self, tensor: Any, index: Any, value: Any) -> None:
        tensor[index] = value

    def assign_grad(self, tensor: Any, value: Any) -> None:
        tensor.grad = value

