"""Sessions: tests, conformance (refgrad vs torch -> reports/), one per third-party engine
(mygrad, jax, jax_x64, autograd -> reports/<engine>/), matrix (-> reports/README.md), corpus
(torch's recorded traces for --oracle corpus), replay (refgrad against them, without
torch -> reports/replay/), lint, typecheck, bench.

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
    """The test suite: refgrad against torch, the kit against itself and its faulty engines.

    The seed is fixed and saved examples are not replayed (conftest.py), so that a red
    build reproduces exactly (`nox -s tests`); explore new
    programs with another seed (`nox -s tests -- --hypothesis-seed 7`) or `nox -s conformance`.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "auto", "-q", "--hypothesis-seed=0",
                "--hypothesis-profile=repeatable", *session.posargs)


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """Check refgrad against torch with the kit and write reports/ (the main job)."""
    session.install("-e", ".[torch]")
    session.run("refgrad-conformance", "--profile", "ci", "--report", "reports", *session.posargs)


@nox.session(python=PYTHON)
def corpus(session: nox.Session) -> None:
    """Record torch's traces for --oracle corpus (conformance/data/corpus-torch-<version>
    .jsonl.gz; profile ci, seed 0, 400 programs per behaviour: ~1 MB). Run it after
    changing the runner, the strategies or the torch pin, and commit the file
    (tests/conformance/test_corpus.py tells when it is due)."""
    session.install("-e", ".[torch]")
    session.run("python", "-m", "conformance.corpus", "--profile", "ci", "--programs", "400",
                "--seed", "0", *session.posargs)


@nox.session(python=PYTHON)
def replay(session: nox.Session) -> None:
    """Check refgrad against the recorded corpus in a virtualenv without torch."""
    session.install("-e", ".")
    session.run("refgrad-conformance", "--oracle", "corpus", "--report", "reports/replay",
                *session.posargs)


# Engines the kit ships adapters for, and the extra that installs each.
THIRD_PARTY_ENGINES = {"mygrad": "mygrad", "jax": "jax", "jax_x64": "jax", "autograd": "autograd"}


def _check_engine(session: nox.Session, engine: str) -> None:
    """Check one engine against torch in a venv with only its extra (and torch, the oracle)
    and write reports/<engine>/. Findings (exit status 1) are the report's subject, not a
    failure of the session."""
    session.install("-e", f".[torch,{THIRD_PARTY_ENGINES[engine]}]")
    session.run("refgrad-conformance", "--engine", engine, "--profile", "ci",
                "--report", f"reports/{engine}", *session.posargs, success_codes=[0, 1])


@nox.session(python=PYTHON, reuse_venv=True)
def mygrad(session: nox.Session) -> None:
    """mygrad against torch -> reports/mygrad/."""
    _check_engine(session, "mygrad")


@nox.session(python=PYTHON, reuse_venv=True)
def jax(session: nox.Session) -> None:
    """JAX as it comes (float32) against torch -> reports/jax/."""
    _check_engine(session, "jax")


@nox.session(python=PYTHON, reuse_venv=True)
def jax_x64(session: nox.Session) -> None:
    """JAX with x64 enabled against torch -> reports/jax_x64/."""
    _check_engine(session, "jax_x64")


@nox.session(python=PYTHON, reuse_venv=True)
def autograd(session: nox.Session) -> None:
    """HIPS autograd against torch -> reports/autograd/."""
    _check_engine(session, "autograd")


@nox.session(python=PYTHON, reuse_venv=True)
def matrix(session: nox.Session) -> None:
    """reports/README.md: engine x behaviour, from the reports the sessions above (and
    `conformance`) wrote. Regenerate everything: nox -s conformance mygrad jax jax_x64
    autograd matrix."""
    session.install("-e", ".")
    session.run("python", "-m", "conformance.matrix", "reports")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    # Lint only: layout is by hand (tables and test matrices read better aligned).
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test,lint]")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """refgrad and torch side by side (pytest-benchmark); prints the ratios."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "benchmarks", "--benchmark-only", "--benchmark-group-by=func",
        "-p", "no:xdist", *session.posargs,
    )
