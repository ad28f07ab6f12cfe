"""Every example of the seed chapter prints, under refgrad, exactly what it prints under torch."""

from __future__ import annotations

import pytest
import torch

import refgrad
from tests.seed_chapter import run_blocks, seed_blocks

TORCH_OUTPUTS = run_blocks(torch)
REFGRAD_OUTPUTS = run_blocks(refgrad)


def test_the_chapter_has_its_thirteen_examples() -> None:
    assert len(seed_blocks()) == 13


@pytest.mark.parametrize("block", range(len(seed_blocks())), ids=lambda i: f"block{i + 1}")
def test_block_prints_what_torch_prints(block: int) -> None:
    assert REFGRAD_OUTPUTS[block] == TORCH_OUTPUTS[block], seed_blocks()[block]


def test_torch_prints_something_for_every_block_that_prints() -> None:
    # Guards the harness itself: blocks with print() must have produced output.
    for source, output in zip(seed_blocks(), TORCH_OUTPUTS, strict=True):
        if "print(" in source:
            assert output.strip(), source
