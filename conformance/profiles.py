"""Search profiles: how many programs per behaviour, how many distinct findings.

Also registered as hypothesis settings profiles of the same names, for the property
tests (`pytest properties/ --hypothesis-profile ci`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How hard to search: examples per behaviour and distinct findings per behaviour."""

    name: str
    max_examples: int
    max_findings: int


# ci: 13 behaviours x 800 = 10,400 programs, about a minute on 2 cores (-n 2) when the
# engine has no findings (nox -s bench measures it); findings add their shrinking.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("quick", max_examples=60, max_findings=2),
    Profile("ci", max_examples=800, max_findings=3),
    Profile("thorough", max_examples=4000, max_findings=6),
)}


def register_hypothesis_profiles() -> None:
    """Register the profiles with hypothesis (imported here: callers may be import-light)."""
    from hypothesis import HealthCheck, settings

    for profile in PROFILES.values():
        settings.register_profile(
            profile.name, max_examples=profile.max_examples, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much])
