"""Shared fixtures: real Kafka and store for every integration test, isolated per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest
from pymongo import AsyncMongoClient

from common.auth import Role, issue_token
from common.settings import ServiceSettings
from common.testing import Infra, drop_run, provide_infra, unique_name

S = TypeVar("S", bound=ServiceSettings)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture
async def run_id(infra: Infra) -> AsyncIterator[str]:
    """One id per test: its topic prefix and database names derive from it.

    Afterwards the test's topics and databases are deleted, so a long suite does not leave
    thousands of partitions behind that slow the broker down.
    """
    run = unique_name("t")
    yield run
    await drop_run(infra, run)


@pytest.fixture
def make_settings(infra: Infra, run_id: str) -> Callable[..., Any]:
    def build(cls: type[S], **overrides: Any) -> S:
        values: dict[str, Any] = {
            "environment": "test",
            "kafka_bootstrap": infra.kafka_bootstrap,
            "mongo_url": infra.mongo_url,
            "topic_prefix": f"{run_id}.",
            "topic_partitions": 2,
            "mongo_db": f"{run_id}_{cls.model_fields['service_name'].default}",
            "outbox_sweep_seconds": 0.5,
            "consumer_backoff_max_seconds": 1.0,
        }
        values.update(overrides)
        return cls(**values)

    return build


@pytest.fixture
async def mongo(infra: Infra) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def token() -> Callable[..., dict[str, str]]:
    def headers(role: Role = "operator", **claims: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(ServiceSettings(), role=role, **claims)}"}

    return headers
