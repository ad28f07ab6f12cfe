"""refgrad beside torch on the same graphs (run: nox -s bench).

Targets from the engine's issue: the 14-op graph at 4x4 in at most half of torch's time
(torch pays dispatch per op), at 512x512 within 1.2x of torch (both are NumPy/ATen bound),
and per-node backward cost flat from a 1,000-op to a 100,000-op chain (within 1.5x).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import refgrad
from benchmarks.graphs import chain, forward_backward, leaves

ENGINES = {"torch": torch, "refgrad": refgrad}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("size", [4, 512])
def test_elementwise_forward_backward(
    benchmark: Any, record_mean: Any, engine: str, size: int
) -> None:
    t = ENGINES[engine]
    x, w = leaves(t, size)
    benchmark(forward_backward, t, x, w)
    record_mean(f"14-op graph fwd+bwd {size}x{size}", engine, benchmark.stats.stats.mean)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("length", [1_000, 100_000])
def test_chain_backward_per_node(
    benchmark: Any, record_mean: Any, engine: str, length: int
) -> None:
    t = ENGINES[engine]

    def setup() -> Any:
        return chain(t, length)[1:], {}

    benchmark.pedantic(
        lambda root: root.backward(), setup=setup, rounds=3 if length > 10_000 else 20
    )
    record_mean(
        f"chain backward, per node ({length:,} ops)", engine, benchmark.stats.stats.mean / length
    )
