"""pytest plugin of the conformance kit (registered through the ``pytest11`` entry point).

Adds ``--engine SPEC`` / ``--oracle SPEC`` and the session fixtures ``engine``,
``oracle`` and ``engine_spec``; registers the kit's hypothesis profiles (quick, ci,
thorough: select one with ``--hypothesis-profile``). Importing it is cheap: engines (and
torch) load only when a test asks for them.
"""

from __future__ import annotations

from typing import Any

import pytest

DEFAULT_ENGINE = "refgrad"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "refgrad conformance kit")
    group.addoption("--engine", default=None, metavar="SPEC",
                    help="engine under test: refgrad (default), torch, pkg.module or "
                         "pkg.module:attr")
    group.addoption("--oracle", default="torch", metavar="SPEC",
                    help="reference engine (default torch)")


@pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    from conformance.profiles import register_hypothesis_profiles

    register_hypothesis_profiles()


@pytest.fixture(scope="session")
def engine_spec(request: pytest.FixtureRequest) -> str:
    spec: str | None = request.config.getoption("--engine")
    return spec or DEFAULT_ENGINE


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest, engine_spec: str) -> Any:
    """The engine under test. If the default engine cannot load, its tests are skipped; an
    engine given with --engine that cannot load stops the session."""
    return _load(engine_spec, explicit=request.config.getoption("--engine") is not None)


@pytest.fixture(scope="session")
def oracle(request: pytest.FixtureRequest) -> Any:
    return _load(request.config.getoption("--oracle"), explicit=True)


def _load(spec: str, *, explicit: bool) -> Any:
    from conformance.engines import EngineSpecError, load_engine

    try:
        return load_engine(spec)
    except EngineSpecError as error:
        if explicit:
            pytest.exit(f"conformance: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
        pytest.skip(f"default engine {spec!r} not usable ({error}); pass --engine SPEC")
