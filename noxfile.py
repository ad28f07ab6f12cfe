"""Sessions: tests, conformance (refgrad vs torch -> reports/), lint, typecheck, bench.

Every session installs into its own virtualenv with pip. torch is pinned exactly
(torch==2.13.0): a looser pin would download a multi-GB CUDA build.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite: refgrad against torch, the kit against itself and its faulty engines."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "auto", "-q", *session.posargs)


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """Check refgrad against torch with the kit and write reports/ (the main job)."""
    session.install("-e", ".[torch]")
    session.run("refgrad-conformance", "--profile", "ci", "--report", "reports", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test,lint]")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """refgrad and torch side by side (pytest-benchmark); prints the ratios."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "benchmarks", "--benchmark-only", "--benchmark-group-by=param:case",
        "-p", "no:xdist", *session.posargs,
    )
