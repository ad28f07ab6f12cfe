"""Progress per behaviour on stderr when it is a terminal; nothing when it is not."""

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conformance.check import BehaviourResult, Tally, describe_done
from conformance.progress import ProgramCounts, TerminalProgress

REPO = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "conformance", "--engine", "torch", "--profile", "quick",
           "--max-examples", "15", "--only", "values", "--only", "gradients"]


def test_the_display_keeps_finished_behaviours_and_redraws_the_rest() -> None:
    stream = io.StringIO()
    with TerminalProgress(stream, behaviours=3, interval=60) as display:
        assert isinstance(display, ProgramCounts)
        display("values: checking up to 40 programs")
        display.programs("values", 17)
        display("values: checking up to 40 programs")  # (redrawn, not printed twice)
        display(describe_done(BehaviourResult("values", Tally(40), (), (), (), 1.25)))
        display("gradients: checking up to 40 programs")
        display("gradients: 52 programs, 1 findings (3.0s)")
        display("a note from the driver")
    text = stream.getvalue()
    lines = [line.rsplit("\x1b[K", 1)[-1] for line in text.split("\n")]
    assert lines[0] == "  ✓ values            40 programs   0 findings    1.2s"
    assert lines[1] == "  ✗ gradients         52 programs   1 finding     3.0s"
    assert lines[2] == "  a note from the driver"
    assert "0/3 done · checking values 17 · " in text  # the status line: programs so far
    assert "1/3 done · checking gradients 0 · " in text
    assert text.endswith("\r\x1b[K")  # cleared at the end


def _read_all(leader: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal is closed and drained
            return
        if not chunk:
            return
        into.append(chunk)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_cli_shows_progress_on_a_terminal(tmp_path: Path, workers: str) -> None:
    leader, follower = pty.openpty()
    # Read while it runs: a terminal buffers ~20 kB, and a slow run's status line (five
    # redraws a second) would fill it and block the program.
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(leader, chunks), daemon=True)
    reader.start()
    done = subprocess.run([*COMMAND, "-n", workers, "--report", str(tmp_path)], cwd=REPO,
                          stdin=follower,
                          stdout=subprocess.PIPE, stderr=follower, check=False, timeout=300)
    os.close(follower)
    reader.join(timeout=30)
    os.close(leader)
    text = b"".join(chunks).decode()
    assert done.returncode == 0
    assert "✓ values" in text and "✓ gradients" in text
    # Each behaviour is on the status line before its line says it is done (with -n 2
    # too: the workers' counts and ends reach the display in order, parallel.py).
    for behaviour in ("values", "gradients"):
        shown = re.search(rf"done · checking [^·]*\b{behaviour} \d+", text)
        assert shown, f"{behaviour} never shown on the status line"
        assert shown.start() < text.index(f"✓ {behaviour}")
    assert re.search(r"0/2 done · checking (values|gradients) \d+", text)
    assert "\x1b[K" in text
    assert b"conformant" in done.stdout  # the summary line stays on stdout


def test_the_cli_is_quiet_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    done = subprocess.run([*COMMAND, "--report", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0
    assert done.stderr == ""
