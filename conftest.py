"""This repository's pytest settings (not the kit's plugin, which users get).

`nox -s tests` (CI) runs with `--hypothesis-seed=0 --hypothesis-profile=repeatable`, and
with these two settings a run depends on that seed alone:
- no example database: hypothesis would first replay failures that earlier runs saved in
  .hypothesis/, so a checkout that keeps that directory would test other programs than
  the seed gives, and a build could go red on a program nobody can regenerate;
- no "local constants": hypothesis now and then draws among the constants of the
  project's modules imported so far, which differ from one xdist worker to the next with
  the tests each happened to run first (`strategies.seed_only`, as the kit's CLI does).
"""

from collections.abc import Iterator

import pytest
from hypothesis import settings

from conformance.strategies import seed_only

settings.register_profile("repeatable", database=None)


@pytest.fixture(scope="session", autouse=True)
def _draws_depend_on_the_seed_only() -> Iterator[None]:
    with seed_only():
        yield
