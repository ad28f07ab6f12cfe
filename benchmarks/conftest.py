"""Collects each benchmark's mean time and prints refgrad/torch ratios at the end (and
the conformance kit's throughput, from test_kit_speed.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import torch

torch.set_num_threads(1)  # compare one core against one core

_MEANS: dict[str, dict[str, float]] = defaultdict(dict)
_RATES: dict[str, tuple[int, float, float]] = {}  # case -> (programs, wall s, CPU s)


@pytest.fixture
def record_mean(request: pytest.FixtureRequest) -> Any:
    def record(case: str, engine: str, seconds: float) -> None:
        _MEANS[case][engine] = seconds

    return record


@pytest.fixture
def record_rate() -> Any:
    def record(case: str, programs: int, wall: float, cpu: float) -> None:
        _RATES[case] = (programs, wall, cpu)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RATES:
        terminalreporter.section("conformance kit: programs checked per second")
        for case, (programs, wall, cpu) in _RATES.items():
            terminalreporter.write_line(
                f"{case:<46} {programs:>6} programs  {wall:6.1f} s wall {programs / wall:6.0f}/s"
                f"  {cpu:6.1f} s CPU {programs / cpu:6.0f}/s per core"
            )
    if not _MEANS:
        return
    terminalreporter.section("refgrad / torch (mean time; < 1 means refgrad is faster)")
    for case, means in sorted(_MEANS.items()):
        if "torch" in means and "refgrad" in means:
            ratio = means["refgrad"] / means["torch"]
            terminalreporter.write_line(
                f"{case:<40} torch {means['torch'] * 1e6:10.1f} us   "
                f"refgrad {means['refgrad'] * 1e6:10.1f} us   ratio {ratio:5.2f}"
            )
        elif "refgrad" in means:
            terminalreporter.write_line(f"{case:<40} refgrad {means['refgrad'] * 1e6:10.1f} us")
