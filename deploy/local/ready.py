"""Readiness probe for the local infra (deploy/local/infra.sh wait).

Ready means a REAL round trip, not an open port:
  * Kafka: create topic ``_driverhome_ready`` with the admin client if absent (auto-create is
    off), produce a unique value (idempotent producer, acks=all), consume it back with a
    fresh consumer group and commit.
  * MongoDB: ``ping``, ``buildInfo`` + ``isMaster`` (server version, maxWireVersion), then
    insert + find + delete in db ``_driverhome_ready``.

Retries until both pass or ``--timeout`` elapses; then prints what is still not ready and
the last error. Exit codes: 0 ready, 1 timeout, 3 a watched server process exited,
4 missing Python packages, 130 interrupted.

With ``--credentials <credentials.json>`` (a secured local broker) Kafka is probed as the admin
principal over SASL/SCRAM-SHA-512.

usage: python deploy/local/ready.py [--kafka HOST:PORT] [--mongo URL] [--timeout S]
                                    [--credentials FILE] [--watch NAME=PID ...] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

READY_TOPIC = "_driverhome_ready"
READY_DB = "_driverhome_ready"
ATTEMPT_TIMEOUT_S = 15.0

try:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError
    from pymongo import AsyncMongoClient
except ImportError as exc:  # pragma: no cover - environment problem
    print(
        f"ready: missing Python package ({exc}); run 'uv sync' in the repo root "
        f"(python: {sys.executable})",
        file=sys.stderr,
    )
    sys.exit(4)


@dataclass
class Check:
    name: str
    ok: bool = False
    detail: str = ""
    last_error: str = "not tried yet"
    attempts: int = 0
    took: float = 0.0
    started: float = field(default_factory=time.monotonic)


def _err(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.removeprefix(f"{name}: ")
    return f"{name}: {text}"[:300] if text else name


def kafka_auth(credentials: str | None) -> dict[str, Any]:
    """aiokafka options to authenticate as the admin of a secured local broker."""
    if not credentials:
        return {}
    with open(credentials) as f:
        data = json.load(f)
    return {
        "security_protocol": data["security_protocol"],
        "sasl_mechanism": data["sasl_mechanism"],
        "sasl_plain_username": "admin",
        "sasl_plain_password": data["users"]["admin"],
    }


async def kafka_round_trip(bootstrap: str, auth: dict[str, Any]) -> str:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="driverhome-ready", request_timeout_ms=10_000, **auth
    )
    await admin.start()
    try:
        topics = await admin.list_topics()
        if READY_TOPIC not in topics:
            with contextlib.suppress(TopicAlreadyExistsError):  # raced with another probe
                await admin.create_topics(
                    [
                        NewTopic(
                            READY_TOPIC,
                            num_partitions=1,
                            replication_factor=1,
                            topic_configs={"retention.ms": "3600000", "segment.ms": "600000"},
                        )
                    ]
                )
    finally:
        await admin.close()

    token = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="driverhome-ready",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        **auth,
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(READY_TOPIC, token, key=b"ready")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        READY_TOPIC,
        bootstrap_servers=bootstrap,
        client_id="driverhome-ready",
        group_id=f"_driverhome_ready-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **auth,
    )
    await consumer.start()
    try:
        while True:  # bounded by the caller's wait_for
            batches = await consumer.getmany(timeout_ms=500)
            if any(m.value == token for msgs in batches.values() for m in msgs):
                await consumer.commit()
                break
    finally:
        await consumer.stop()
    return f"produce+consume+commit ok ({READY_TOPIC}[{meta.partition}]@{meta.offset})"


async def mongo_round_trip(url: str) -> str:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url,
        serverSelectionTimeoutMS=2000,  # < the attempt timeout, so its error is reported
        connectTimeoutMS=2000,
        socketTimeoutMS=10_000,
        appname="driverhome-ready",
    )
    try:
        await client.admin.command("ping")
        info = await client.admin.command("buildInfo")
        hello = await client.admin.command("isMaster")  # mongo-java-server has no 'hello' cmd
        coll = client[READY_DB]["ready"]
        doc_id = uuid.uuid4().hex
        await coll.insert_one({"_id": doc_id, "at": time.time()})
        found = await coll.find_one({"_id": doc_id})
        if not found or found.get("_id") != doc_id:
            raise RuntimeError("inserted document not found")
        await coll.delete_one({"_id": doc_id})
    finally:
        await client.close()
    return (
        f"MongoDB {info.get('version')} (maxWireVersion {hello.get('maxWireVersion')}): "
        "ping+insert+find+delete ok"
    )


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state == "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


async def _attempt(
    check: Check,
    factory: Callable[[], Awaitable[str]],
    *,
    started: float,
    deadline: float,
    verbose: bool,
) -> None:
    check.attempts += 1
    left = max(3.0, min(ATTEMPT_TIMEOUT_S, deadline - time.monotonic()))
    try:
        check.detail = await asyncio.wait_for(factory(), timeout=left)
        check.ok = True
        check.took = time.monotonic() - started
    except TimeoutError:
        check.last_error = f"attempt timed out after {left:.0f}s"
    except Exception as exc:
        check.last_error = _err(exc)
    if verbose and not check.ok:
        print(f"ready: {check.name}: {check.last_error}", file=sys.stderr)


def _watched_exited(watch: dict[str, int]) -> bool:
    for name, pid in watch.items():
        if _dead(pid):
            print(f"ready: {name} process (pid {pid}) exited", file=sys.stderr)
            return True
    return False


def _report_not_ready(checks: list[Check], timeout: float) -> None:
    for c in checks:
        if not c.ok:
            print(
                f"ready: NOT READY after {timeout:.0f}s: {c.name} "
                f"({c.attempts} attempts; last error: {c.last_error})",
                file=sys.stderr,
            )
    for c in checks:
        if c.ok:
            print(f"ready: {c.name} was ready: {c.detail}", file=sys.stderr)


async def main_async(args: argparse.Namespace) -> int:
    watch: dict[str, int] = {}
    for item in args.watch:
        name, _, pid = item.partition("=")
        watch[name] = int(pid)
    auth = kafka_auth(args.credentials)
    checks = {
        "kafka": (Check("kafka"), lambda: kafka_round_trip(args.kafka, auth)),
        "mongo": (Check("mongo"), lambda: mongo_round_trip(args.mongo)),
    }
    t0 = time.monotonic()
    deadline = t0 + args.timeout

    while True:
        if _watched_exited(watch):
            return 3
        pending = [(c, f) for c, f in checks.values() if not c.ok]
        if not pending:
            break
        if time.monotonic() >= deadline:
            _report_not_ready([c for c, _ in checks.values()], args.timeout)
            return 1
        await asyncio.gather(
            *(
                _attempt(c, f, started=t0, deadline=deadline, verbose=args.verbose)
                for c, f in pending
            )
        )
        if any(not c.ok for c, _ in checks.values()):
            await asyncio.sleep(0.5)

    for c, _ in checks.values():
        print(f"ready: {c.name} ready after {c.took:.1f}s — {c.detail}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--kafka",
        default=os.environ.get("KAFKA_BOOTSTRAP")
        or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}",
    )
    p.add_argument(
        "--mongo",
        default=os.environ.get("MONGO_URL")
        or f"mongodb://127.0.0.1:{os.environ.get('MONGO_PORT', '27017')}/",
    )
    p.add_argument(
        "--timeout", type=float, default=float(os.environ.get("INFRA_WAIT_TIMEOUT", "90"))
    )
    p.add_argument("--credentials", help="a secured local broker's credentials.json")
    p.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    # aiokafka logs every refused connection at ERROR while the broker starts; keep quiet.
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130


if __name__ == "__main__":
    sys.exit(main())
