"""How often refgrad lays out an elementwise result otherwise than torch does.

Random binary ops (+) and `where`s over operands of random shapes (broadcasting), dimension
orders and slicing steps, run in both; counts results whose strides differ in a dimension
of size above 1 (those decide `is_contiguous()` and whether `view` works). The README
quotes this count: `python -m tests.layout_survey`.
"""

from __future__ import annotations

import math
import random
import sys
from types import ModuleType
from typing import Any

import torch

import refgrad

Spec = tuple[list[int], list[int], int]  # shape, dimension order, step along dim 0


def operand(t: ModuleType, spec: Spec) -> Any:
    """A tensor of `shape` made by permuting (and maybe slicing) a contiguous one."""
    shape, order, step = spec
    full = [n * (step if i == 0 else 1) for i, n in enumerate(shape)]
    base = t.arange(math.prod(full), dtype=t.float32).reshape(*[full[d] for d in order])
    tensor = base.permute(*[order.index(d) for d in range(len(shape))])
    return tensor[::step] if step > 1 else tensor


def random_specs(rng: random.Random) -> list[Spec]:
    ndim = rng.choice([2, 3, 4])
    shape = [rng.choice([1, 2, 3]) for _ in range(ndim)]
    specs = []
    for _ in range(rng.choice([2, 3])):
        own = [1 if rng.random() < 0.25 else n for n in shape][rng.choice([0, 0, 0, 1]):]
        order = list(range(len(own)))
        rng.shuffle(order)
        specs.append((own, order, rng.choice([1, 1, 2])))
    return specs


def layout(t: ModuleType, specs: list[Spec]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ops = [operand(t, s) for s in specs]
    result = ops[0] + ops[1] if len(ops) == 2 else t.where(ops[0] > 3, ops[1], ops[2])
    return tuple(result.shape), tuple(result.stride())


def main(trials: int = 3000, seed: int = 0) -> int:
    rng = random.Random(seed)
    differing = []
    for _ in range(trials):
        specs = random_specs(rng)
        (shape, want), (_, got) = layout(torch, specs), layout(refgrad, specs)
        if any(n != 1 and a != b for n, a, b in zip(shape, want, got, strict=True)):
            differing.append((specs, want, got))
    for specs, want, got in differing[:5]:
        print(f"  operands (shape, order, step) {specs}: torch {want}, refgrad {got}")
    print(f"{len(differing)} of {trials} results laid out differently")
    return 0


if __name__ == "__main__":
    sys.exit(main())
