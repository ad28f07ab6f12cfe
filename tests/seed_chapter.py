"""The seed chapter's Python examples, runnable against any torch-like module."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path
from types import ModuleType

SEED_DIR = Path(__file__).resolve().parents[1] / "docs" / "seed"
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def seed_blocks() -> list[str]:
    """Every ```python block of the seed chapter, in order."""
    (chapter,) = sorted(SEED_DIR.glob("*.txt"))
    return re.findall(r"``` ?python\n(.*?)```", chapter.read_text(encoding="utf-8"), re.S)


def run_blocks(torch_module: ModuleType) -> list[str]:
    """Run the blocks in one namespace, as a reader would; return each block's output.

    Object addresses are blanked (they differ run to run); an exception ends the block
    and is printed as ``ExceptionClass: message``, the way Python would show it.
    """
    namespace: dict[str, object] = {"torch": torch_module}
    outputs = []
    for block in seed_blocks():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile(block, "<seed>", "exec"), namespace)
            except Exception as error:  # the chapter shows errors as part of the output
                print(f"{type(error).__name__}: {error}")
        outputs.append(_ADDRESS.sub(" at 0x…", buffer.getvalue()))
    return outputs
