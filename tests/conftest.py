"""Shared test settings: property tests draw the same examples on every CI run (a failure there is
reproducible, and a pass means the same thing each time); `KPIREPORT_FUZZ=long` draws new ones, many."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# `./dev mutate` runs the tests once per mutant: fewer fixed examples (a mutant the fixed cases miss
# is reported as surviving, which is the point)
settings.register_profile("mutate", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile({"long": "long", "mutate": "mutate"}.get(os.environ.get("KPIREPORT_FUZZ", ""), "ci"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a real PostgreSQL server started for this test session (tests/postgres.py), with its password."""
    from .postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _forget_database_passwords() -> Iterator[None]:
    """The CLI scrubs every password a database URL held in the process (kpireport.database): one
    test's short password ("b") must not turn into *** in the next test's messages."""
    from kpireport import database

    seen = set(database._seen_passwords)
    yield
    database._seen_passwords.clear()
    database._seen_passwords.update(seen)
