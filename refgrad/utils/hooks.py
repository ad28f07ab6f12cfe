"""RemovableHandle: what registering a hook returns; ``handle.remove()`` unregisters it."""

from __future__ import annotations

import itertools
from typing import Any

_next_hook_id = itertools.count()


class RemovableHandle:
    """Removes one hook from the dict it was registered in (hooks run in insertion order)."""

    def __init__(self, hooks_dict: dict[int, Any]) -> None:
        self.id = next(_next_hook_id)
        self._hooks_dict = hooks_dict

    @classmethod
    def add(cls, hooks_dict: dict[int, Any], hook: Any) -> RemovableHandle:
        handle = cls(hooks_dict)
        hooks_dict[handle.id] = hook
        return handle

    def remove(self) -> None:
        self._hooks_dict.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
