"""Shared fixtures: real Kafka and store for every integration test, isolated per test."""

from __future__ import annotations

import contextlib
import os

# An unset environment means production (strict keys, no development issuer): the tests say
# which they are before any settings exist, and the services they start inherit it.
os.environ.setdefault("DRIVERHOME_ENVIRONMENT", "test")

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from common.auth import Role, issue_token
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    UpdateConflictWatch,
    dead_letters,
    drop_run,
    grant_run,
    provide_infra,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
)
from tests.support import settings_builder

_update_conflicts = UpdateConflictWatch()


_shared_infra = pytest.StashKey[contextlib.ExitStack]()


def pytest_configure(config: pytest.Config) -> None:
    # Registered before any client exists: PyMongo hands global listeners to new clients only.
    monitoring.register(_update_conflicts)
    if _distributing(config):
        # Workers share one broker and store. Started (or found) here, before the workers
        # exist, no two workers race to start them and none stops them under the others: each
        # worker then finds them running and leaves them be.
        stack = contextlib.ExitStack()
        infra = stack.enter_context(provide_infra())
        if infra.origin == "testcontainers":
            os.environ.update(infra.test_env())  # containers are found only by their address
        config.stash[_shared_infra] = stack


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_shared_infra, None)
    if stack is not None:
        stack.close()


def _distributing(config: pytest.Config) -> bool:
    """True in the controlling process of a run spread over workers (``-n N``, pytest-xdist)."""
    workers = config.getoption("numprocesses", default=None)
    return bool(workers) and not hasattr(config, "workerinput")


@pytest.fixture(autouse=True)
def no_conflicting_updates() -> Iterator[None]:
    """Fails a test whose code sent the store an update MongoDB refuses (code 40)."""
    before = len(_update_conflicts.found)
    yield
    found = _update_conflicts.found[before:]
    if found:
        pytest.fail("updates naming one path twice:\n  " + "\n  ".join(found), pytrace=False)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


def expected_dead_letters(node: pytest.Item) -> tuple[str, ...] | None:
    """What ``@pytest.mark.expects_dlq(*reasons)`` allows: None when not marked, () for any."""
    marker = node.get_closest_marker("expects_dlq")
    return None if marker is None else tuple(marker.args)


@pytest.fixture
async def run_id(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """One id per test: its topic prefix and database names derive from it.

    Afterwards the DLQ watchdog reads the test's dead-letter topics: a record the test did not
    declare (``@pytest.mark.expects_dlq``) fails it. Then the test's topics and databases are
    deleted, so a long suite does not leave thousands of partitions behind.

    On a secured broker the services get their grants of ``deploy/access.yaml`` on the run's
    topics for the test's duration, so every test also exercises the access table.
    """
    run = unique_name("t")
    grants = await grant_run(infra, run)
    yield run
    try:
        report = unexpected_dead_letters(
            await dead_letters(infra.kafka_bootstrap, f"{run}."),
            expected_dead_letters(request.node),
        )
    finally:
        await drop_run(infra, run)
        await revoke_run(infra, grants)
    if report:
        pytest.fail(report, pytrace=False)


@pytest.fixture
def make_settings(infra: Infra, run_id: str) -> Callable[..., Any]:
    return settings_builder(infra, run_id)


@pytest.fixture
async def mongo(infra: Infra) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def token() -> Callable[..., dict[str, str]]:
    """Bearer headers; ``token("operator")`` has every named role, ``roles=``/``scope=`` narrow."""

    def headers(
        role: Role = "operator", roles: Sequence[str] | None = None, **claims: str
    ) -> dict[str, str]:
        minted = issue_token(ServiceSettings(), role=role, roles=roles, **claims)
        return {"Authorization": f"Bearer {minted}"}

    return headers
