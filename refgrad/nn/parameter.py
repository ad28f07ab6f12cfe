"""Parameter: a leaf tensor that requires grad by default."""

from __future__ import annotations

from refgrad._tensor import Tensor


class Parameter(Tensor):
    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        from refgrad._factories import empty

        source = empty(0) if data is None else data
        p = object.__new__(cls)
        p._array = source._array
        p._dtype = source._dtype
        p._version_counter = source._version_counter
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
