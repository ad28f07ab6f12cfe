"""Engines: the adapter protocol, the generic torch-like adapter, and engine specs.

An engine spec is a string:
- ``refgrad`` (the default) or ``torch``, or any ``pkg.module``: a torch-like module,
  driven by the generic `TorchLikeEngine` adapter;
- the name of an engine the kit ships an adapter for (`NAMED_ENGINES`: ``mygrad``,
  ``jax``, ``jax_x64``, ``autograd``), each needing an optional extra of the package;
- ``pkg.module:attr``: an object implementing the protocol (a class is instantiated
  without arguments).
"""

from __future__ import annotations

import importlib
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.engines.protocol import (
    ALL_CAPABILITIES,
    CAPABILITY_METHODS,
    REQUIRED_MEMBERS,
    Engine,
    EngineBase,
    EngineSpecError,
    first_line,
)

__all__ = ["NAMED_ENGINES", "Engine", "EngineBase", "EngineSpecError", "is_adapter_spec",
           "load_engine"]

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC = re.compile(rf"(?P<module>{_IDENTIFIER}(\.{_IDENTIFIER})*)(:(?P<attr>{_IDENTIFIER}))?")


@dataclass(frozen=True)
class NamedEngine:
    """An engine the kit ships an adapter for, selected by name (`--engine jax`)."""

    adapter: str  # the adapter's spec, `pkg.module:attr`
    package: str  # what the engine is imported as
    extra: str  # the optional extra that installs it: pip install 'refgrad[<extra>]'


NAMED_ENGINES: Mapping[str, NamedEngine] = {
    "mygrad": NamedEngine("conformance.engines.mygrad_engine:MygradEngine", "mygrad", "mygrad"),
    "jax": NamedEngine("conformance.engines.jax_engine:JaxEngine", "jax", "jax"),
    "jax_x64": NamedEngine("conformance.engines.jax_engine:JaxX64Engine", "jax", "jax"),
    "autograd": NamedEngine("conformance.engines.hips_autograd:HipsAutogradEngine", "autograd",
                            "autograd"),
}


def is_adapter_spec(spec: str) -> bool:
    """Whether the spec names an adapter object (not a torch-like module)."""
    return ":" in spec or spec.strip() in NAMED_ENGINES


def load_engine(spec: str) -> Engine:
    """The engine a spec names; `EngineSpecError` (one line) if it cannot be loaded."""
    named = NAMED_ENGINES.get(spec.strip())
    if named is not None:
        return _load_named(spec.strip(), named)
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise EngineSpecError(f"invalid engine spec {spec!r}: expected a module name "
                              "(e.g. 'refgrad', 'torch', 'pkg.module') or 'pkg.module:attr'")
    module = _import(match["module"])
    attr = match["attr"]
    if attr is None:
        from conformance.engines.torchlike import TorchLikeEngine  # imports the catalogue

        return TorchLikeEngine(module)
    try:
        candidate = getattr(module, attr)
    except AttributeError:
        raise EngineSpecError(f"engine spec {spec!r}: module {match['module']!r} has no "
                              f"attribute {attr!r}") from None
    if isinstance(candidate, type):
        try:
            candidate = candidate()
        except Exception as error:
            raise EngineSpecError(f"engine spec {spec!r}: {attr}() raised "
                                  f"{type(error).__name__}: {first_line(error)}") from None
    return check_adapter(candidate, spec)


def check_adapter(candidate: Any, spec: str) -> Engine:
    """`candidate` if it implements the protocol, else `EngineSpecError` naming what lacks."""
    missing = [member for member in REQUIRED_MEMBERS if not hasattr(candidate, member)]
    if missing:
        raise EngineSpecError(f"engine {spec!r} is missing required members: "
                              f"{', '.join(missing)}")
    declared = getattr(candidate, "capabilities", None)
    if not isinstance(declared, frozenset | set):
        raise EngineSpecError(f"engine {spec!r}: capabilities must be a set of strings")
    unknown = sorted(str(c) for c in declared if c not in ALL_CAPABILITIES)
    if unknown:
        raise EngineSpecError(f"engine {spec!r} declares unknown capabilities: "
                              f"{', '.join(unknown)}")
    lacking = sorted({method for cap, method in CAPABILITY_METHODS.items()
                      if cap in declared and not callable(getattr(candidate, method, None))})
    if lacking:
        raise EngineSpecError(f"engine {spec!r} declares capabilities without their methods: "
                              f"{', '.join(lacking)}")
    return candidate


def _load_named(name: str, named: NamedEngine) -> Engine:
    module, _, attr = named.adapter.partition(":")
    try:
        adapter = importlib.import_module(module)  # imports the engine
    except ImportError as error:
        raise EngineSpecError(f"engine {name!r} needs the optional package {named.package!r} "
                              f"({first_line(error)}): pip install 'refgrad[{named.extra}]'"
                              ) from None
    try:
        return check_adapter(getattr(adapter, attr)(), name)
    except EngineSpecError:
        raise
    except Exception as error:  # the engine failing to start is a configuration problem
        raise EngineSpecError(f"engine {name!r}: starting it raised {type(error).__name__}: "
                              f"{first_line(error)}") from None


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise EngineSpecError(f"cannot import engine module {name!r}: "
                              f"{first_line(error)}") from None
    except Exception as error:  # an engine failing at import is a configuration problem
        raise EngineSpecError(f"importing engine module {name!r} raised "
                              f"{type(error).__name__}: {first_line(error)}") from None

