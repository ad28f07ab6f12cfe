"""This repository's pytest settings (not the kit's plugin, which users get)."""

from hypothesis import settings

# `nox -s tests` (CI) runs with this profile: a run then depends on --hypothesis-seed
# alone. With a database, hypothesis first replays failures saved in .hypothesis/ by
# earlier runs, so a checkout that keeps that directory tests other programs than the
# seed gives, and a build can go red on a program nobody can regenerate.
settings.register_profile("repeatable", database=None)
