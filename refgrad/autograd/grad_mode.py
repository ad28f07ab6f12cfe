"""Grad mode: whether operations are recorded for backward.

Each context manager saves the mode on entry and restores it on exit (exceptions
included), so they nest. Each also works as a decorator, with or without parentheses
for the ones that take no argument (``@no_grad`` and ``@no_grad()``), as in torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState:
    enabled = True
    inference = False


def is_grad_enabled() -> bool:
    return _GradState.enabled


def is_inference_mode_enabled() -> bool:
    return _GradState.inference


class _GradModeContext:
    """Base: sets (enabled, inference) on entry, restores the previous pair on exit."""

    _enabled: bool
    _inference: bool | None = None  # None: leave inference mode as it is

    def __enter__(self) -> None:
        self._saved = (_GradState.enabled, _GradState.inference)
        _GradState.enabled = self._enabled
        if self._inference is not None:
            _GradState.inference = self._inference

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _GradState.enabled, _GradState.inference = self._saved

    def clone(self) -> _GradModeContext:
        return self.__class__()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _NoParamContext(_GradModeContext):
    """Usable as ``@ctx`` as well as ``@ctx()`` and ``with ctx():``."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamContext):
    _enabled = False


class enable_grad(_NoParamContext):
    _enabled = True


class set_grad_enabled(_GradModeContext):
    """Takes effect when constructed, so the plain call ``set_grad_enabled(False)`` works."""

    def __init__(self, mode: bool) -> None:
        self._enabled = bool(mode)
        self._saved = (_GradState.enabled, _GradState.inference)
        _GradState.enabled = self._enabled

    def __enter__(self) -> None:
        pass  # already applied in __init__; __exit__ restores what was there before

    def clone(self) -> set_grad_enabled:
        return self.__class__(self._enabled)

    def __call__(self, func: F) -> F:
        _GradState.enabled, _GradState.inference = self._saved  # undo the eager effect
        return super().__call__(func)


class inference_mode(_GradModeContext):
    def __new__(cls, mode: bool | Callable[..., Any] = True) -> Any:
        if callable(mode):
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self._mode = mode
        self._enabled = not mode
        self._inference = mode

    def __enter__(self) -> None:
        if not self._mode:  # inference_mode(False) leaves grad mode alone
            self._enabled = _GradState.enabled
        super().__enter__()

    def clone(self) -> inference_mode:
        return self.__class__(self._mode)
