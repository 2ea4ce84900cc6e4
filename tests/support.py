"""Helpers tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import BaseModel

from common.testing import Infra

S = TypeVar("S", bound=BaseModel)

# Settings a production service starts with: the identity provider's issuer and JWKS (never
# the development issuer), and its own PII and partner hash keys (never the development ones).
PRODUCTION_KEYS: dict[str, object] = {
    "environment": "production",
    "jwt_issuer": "https://id.port-district.example/realms/driverhome",
    "jwt_jwks_url": "https://id.port-district.example/realms/driverhome/certs",
    "pii_key": "cHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHA=",
    "pii_hmac_key": "aGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGg=",
    "partner_hash_keys": {"port-booking": {"pb1": "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI="}},
    "cursor_key": "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=",
}


def settings_builder(infra: Infra, run: str) -> Callable[..., Any]:
    """Builds a service's settings for one test run: its topics and databases under the run's
    prefix, its own Kafka principal, quick sweeps and backoff, no rate limit."""

    def build(cls: type[S], **overrides: Any) -> S:
        name = cls.model_fields["service_name"].default
        values: dict[str, Any] = {
            "environment": "test",
            "kafka_bootstrap": infra.kafka_bootstrap,
            "mongo_url": infra.mongo_url,
            "topic_prefix": f"{run}.",
            "topic_partitions": 2,
            "mongo_db": f"{run}_{name}",
            "outbox_sweep_seconds": 0.5,
            "consumer_backoff_max_seconds": 1.0,
            # Suites send bursts from one address; tests/security/test_limits.py turns it on.
            "rate_limit_enabled": False,
            # Its own principal of deploy/access.yaml on a secured broker.
            **infra.service_settings(name),
        }
        values.update(overrides)
        return cls(**values)

    return build


def problem_body(answer: httpx.Response, asked: str = "") -> dict[str, Any]:
    """A problem+json body without what differs per request (its path, its request id and the
    id the caller asked for, where a detail repeats it): two refusals with equal bodies tell
    the caller nothing apart."""
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    body = {k: v for k, v in answer.json().items() if k not in {"instance", "request_id"}}
    if not asked:
        return body
    return {k: v.replace(asked, "<asked>") if isinstance(v, str) else v for k, v in body.items()}


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app in-process (lifespan included) and give an HTTP client for it."""
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


async def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce one record with an idempotent producer (as the admin on a secured broker)."""
    from aiokafka import AIOKafkaProducer

    from common.testing import kafka_options

    producer = AIOKafkaProducer(**kafka_options(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@dataclass
class Webhook:
    """A real HTTP endpoint on 127.0.0.1 that records what is posted to it (headers, raw body)."""

    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.deliveries.append((headers, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Webhook]:
    hook = Webhook()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    hook.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/driverhome"
    async with server:
        yield hook


async def approved(
    http: httpx.AsyncClient, proposed: httpx.Response, checker: dict[str, str]
) -> httpx.Response:
    """Four eyes: a second person approves what a write answered 202 for (common.approvals);
    the approval's answer, its command executed (``result``)."""
    assert proposed.status_code == 202, proposed.text
    approval_id = proposed.json()["approval_id"]
    answer = await http.post(f"/v1/approvals/{approval_id}/approve", headers=checker)
    assert answer.status_code == 200 and answer.json()["state"] == "executed", answer.text
    return answer


class StaleFirst:
    """Replaces ``owner.<name>`` so that its first call answers ``stale`` once."""

    def __init__(self, owner: Any, name: str, stale: Any) -> None:
        self.owner, self.name, self.stale = owner, name, [stale]
        self.real = getattr(owner, name)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.stale.pop() if self.stale else await self.real(*args, **kwargs)

    def __enter__(self) -> StaleFirst:
        setattr(self.owner, self.name, self)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.real)


def training_body(starts: datetime, capacity: int) -> dict[str, Any]:
    """A station's two-hour safety-driving training starting at ``starts`` (registration
    required), as staff create it at POST /v1/stations/{id}/activities."""
    return {
        "kind": "training",
        "title": "安全驾驶培训",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": capacity,
    }
