"""Test harness helpers: where the infrastructure comes from, isolation, and fault tools.

Order (issue 2): endpoints from ``DRIVERHOME_TEST_KAFKA`` / ``DRIVERHOME_TEST_MONGO_URL`` if set;
testcontainers if a Docker engine answers; otherwise the project's local infrastructure
(``deploy/local/infra.sh``), started once per test run and stopped afterwards if we started it.

A secured broker (issue 12) comes with its development credentials file
(``DRIVERHOME_TEST_KAFKA_CREDENTIALS``, or the local infrastructure's
``<infra dir>/kafka/credentials.json``): services built by the harness authenticate as their own
principal of ``deploy/access.yaml``, whose grants each test run receives under its own topic
prefix; the harness's own tools (topic cleanup, the DLQ watchdog, test producers and readers)
authenticate as the admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pymongo import monitoring

from common.access import ADMIN, LITERAL, TOPIC, AccessTable, Binding, create_acls, delete_acls
from common.dlq import DLQ_SUFFIX
from common.kafka_auth import DevCredentials
from common.logging import describe_error, get_logger, scrub
from common.mongo import conflicting_paths

T = TypeVar("T")
log = get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[4]
INFRA_SCRIPT = REPO_ROOT / "deploy" / "local" / "infra.sh"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    mongo_url: str
    origin: str
    credentials: DevCredentials | None = None

    def client(self, username: str = ADMIN) -> dict[str, Any]:
        """aiokafka options for a client of this broker, as ``username`` (the admin)."""
        if self.credentials is None:
            return {"bootstrap_servers": self.kafka_bootstrap}
        return self.credentials.options(username, bootstrap=self.kafka_bootstrap)

    def service_username(self, service: str) -> str:
        """The Kafka user a service runs as: its own, or the admin for a test-only service."""
        return f"service.{service}" if f"service:{service}" in access_table().principals else ADMIN

    def service_settings(self, service: str) -> dict[str, Any]:
        """Settings values that make a service authenticate as its own principal."""
        if self.credentials is None:
            return {}
        username = self.service_username(service)
        return {
            "kafka_security_protocol": self.credentials.security_protocol,
            "kafka_sasl_mechanism": self.credentials.sasl_mechanism,
            "kafka_username": username,
            "kafka_password": self.credentials.password(username),
        }

    def service_env(self, service: str) -> dict[str, str]:
        """The same as ``DRIVERHOME_KAFKA_*`` variables, for a service run as a process."""
        if self.credentials is None:
            return {}
        return self.credentials.env(self.service_username(service))

    def test_env(self) -> dict[str, str]:
        """What a nested pytest needs to use this same infrastructure."""
        env = {
            "DRIVERHOME_TEST_KAFKA": self.kafka_bootstrap,
            "DRIVERHOME_TEST_MONGO_URL": self.mongo_url,
        }
        if self.credentials is not None:
            env["DRIVERHOME_TEST_KAFKA_CREDENTIALS"] = str(self.credentials.path)
        return env


_access_table: AccessTable | None = None
# Brokers this process was given, by bootstrap address: helpers that take only an address (and
# service processes started with one) authenticate with the matching credentials.
_BROKERS: dict[str, Infra] = {}


def access_table() -> AccessTable:
    global _access_table
    if _access_table is None:
        _access_table = AccessTable.load()
    return _access_table


def kafka_options(bootstrap: str) -> dict[str, Any]:
    """aiokafka options for a test tool on a broker the harness provided (or whose
    credentials file it knows): the admin."""
    infra = _BROKERS.get(bootstrap)
    if infra is not None:
        return infra.client()
    for path in (os.environ.get("DRIVERHOME_TEST_KAFKA_CREDENTIALS"), _local_credentials()):
        creds = _credentials(path)
        if creds is not None and creds.bootstrap == bootstrap:
            return creds.options(ADMIN)
    return {"bootstrap_servers": bootstrap}


def _local_credentials() -> Path:
    infra_dir = Path(os.environ.get("DRIVERHOME_INFRA_DIR") or REPO_ROOT / ".infra")
    return infra_dir.resolve() / "kafka" / "credentials.json"


def _credentials(path: str | Path | None) -> DevCredentials | None:
    if path and Path(path).is_file():
        return DevCredentials.load(path)
    return None


def run_grants(run: str) -> list[Binding]:
    """The services' grants of the access table under one test run's topic prefix."""
    return [
        binding
        for name, principal in access_table().principals.items()
        if name.startswith("service:")
        for binding in principal.bindings(f"{run}.")
    ]


_NOT_AUTHORIZED = 29


async def grant_run(infra: Infra, run: str) -> list[Binding]:
    """Give the services their grants on a test run's topics (none needed without auth)."""
    if infra.credentials is None:
        return []
    from aiokafka.admin import AIOKafkaAdminClient

    bindings = run_grants(run)
    admin = AIOKafkaAdminClient(**infra.client())
    await admin.start()
    try:
        await create_acls(admin, bindings)
    finally:
        await admin.close()
    topic_grants = [b for b in bindings if b.resource_type == TOPIC and b.pattern == LITERAL]
    if topic_grants:
        await _grants_in_force(infra, topic_grants[-1])
    return bindings


async def _grants_in_force(infra: Infra, last: Binding, timeout: float = 30.0) -> None:
    """Wait until the broker authorizes with the new grants (the controller has them at once;
    a loaded broker applies them moments later). A service starting before then would find its
    topics unauthorized, skip creating them, and fail later on a missing topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    probe = AIOKafkaAdminClient(**infra.client(last.username))
    await probe.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = await probe.describe_topics([last.name])
            if all(t.get("error_code", 0) != _NOT_AUTHORIZED for t in described):
                return
            await asyncio.sleep(0.1)
        log.warning("test grants not in force in time", principal=last.username)
    finally:
        await probe.close()


async def revoke_run(infra: Infra, bindings: list[Binding]) -> None:
    if not bindings:
        return
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**infra.client())
    try:
        await admin.start()
        await delete_acls(admin, bindings)
    except Exception as exc:  # cleanup must never fail a test
        log.warning("could not delete test ACLs", error=describe_error(exc))
    finally:
        await admin.close()


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    with _provide_infra() as infra:
        _BROKERS[infra.kafka_bootstrap] = infra
        try:
            yield infra
        finally:
            _BROKERS.pop(infra.kafka_bootstrap, None)


@contextlib.contextmanager
def _provide_infra() -> Iterator[Infra]:
    kafka = os.environ.get("DRIVERHOME_TEST_KAFKA")
    mongo = os.environ.get("DRIVERHOME_TEST_MONGO_URL")
    if kafka and mongo:
        creds = _credentials(os.environ.get("DRIVERHOME_TEST_KAFKA_CREDENTIALS"))
        yield Infra(kafka, mongo, "environment", creds)
        return
    if os.environ.get("DRIVERHOME_TEST_NO_DOCKER") != "1" and _docker_answers():
        with _containers() as infra:
            yield infra
        return
    with _local_infra() as infra:
        yield infra


@contextlib.contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        MongoDbContainer("mongo:8.0") as mongo,
    ):
        yield Infra(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers")


@contextlib.contextmanager
def _local_infra() -> Iterator[Infra]:
    already_up = (
        subprocess.run(["bash", str(INFRA_SCRIPT), "status"], capture_output=True).returncode == 0
    )
    if not already_up:
        subprocess.run(["bash", str(INFRA_SCRIPT), "up"], check=True)
    try:
        yield Infra(
            f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}",
            f"mongodb://127.0.0.1:{os.environ.get('MONGO_PORT', '27017')}",
            "local (already running)" if already_up else "local (started for this run)",
            _credentials(_local_credentials()),
        )
    finally:
        if not already_up:
            subprocess.run(["bash", str(INFRA_SCRIPT), "down"], check=False)


async def drop_run(infra: Infra, run: str) -> None:
    """Delete a test run's topics (``<run>.*``) and databases (``<run>_*``); best effort."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient

    admin = AIOKafkaAdminClient(**infra.client())
    try:
        await admin.start()
        topics = [t for t in await admin.list_topics() if t.startswith(f"{run}.")]
        if topics:
            await admin.delete_topics(topics)
    except Exception as exc:  # cleanup must never fail a test
        log.warning("could not delete test topics", run=run, error=describe_error(exc))
    finally:
        await admin.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        infra.mongo_url, serverSelectionTimeoutMS=3000
    )
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{run}_"):
                await client.drop_database(name)
    except Exception as exc:
        log.warning("could not drop test databases", run=run, error=describe_error(exc))
    finally:
        await client.close()


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_AREAS = ("330206", "330212", "340104", "410102", "360102", "510104")
_rng = random.Random()


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def synthetic_national_id(rng: random.Random | None = None) -> str:
    """A resident ID number with a valid check digit, generated fresh: no fixed real-looking
    number lives in the test code, and none belongs to a real person by construction."""
    r = rng or _rng
    first = (
        f"{r.choice(_AREAS)}{r.randint(1960, 2000)}{r.randint(1, 12):02d}"
        f"{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    )
    return first + id_check_digit(first)


def with_wrong_check_digit(national_id: str) -> str:
    right = national_id[-1]
    return national_id[:-1] + next(c for c in "0123456789X" if c != right)


def synthetic_phone(rng: random.Random | None = None) -> str:
    r = rng or _rng
    return f"1{r.choice('3589')}{r.randint(0, 999_999_999):09d}"


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def wait_until(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error!r})")


async def read_topic(
    bootstrap: str, topic: str, *, min_records: int = 1, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic from the beginning, once at least ``min_records`` arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                records.extend(part)
            if len(records) >= min_records:
                # One more short poll so records produced in the same burst are included.
                for part in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(part)
                break
    finally:
        await consumer.stop()
    return records


async def dead_letters(
    bootstrap: str, prefix: str, *, timeout: float = 5.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the ``<prefix>….dlq`` topics: one consumer, reading up to the end
    offsets it saw at the start, so an empty DLQ costs a few metadata round trips."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        topics = [
            t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(DLQ_SUFFIX)
        ]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        for p in t.get("partitions") or ()
    ]
    records: list[ConsumerRecord[bytes, bytes]] = []
    if not partitions:
        return records
    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
    )
    await consumer.start()
    try:
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end}
        if not ends:
            return records
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                break
            for part in (await consumer.getmany(*ends, timeout_ms=300)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def unexpected_dead_letters(
    records: list[ConsumerRecord[bytes, bytes]], allowed_reasons: tuple[str, ...] | None
) -> str | None:
    """A report of the records a test did not declare (``allowed_reasons`` None: none
    declared; empty: any reason), or None. Headers only: payloads may hold personal data."""
    if allowed_reasons is None:
        unexpected = records
    elif not allowed_reasons:
        unexpected = []
    else:
        unexpected = [r for r in records if headers_of(r).get("dlq-reason") not in allowed_reasons]
    if not unexpected:
        return None
    lines = [f"{len(unexpected)} unexpected dead letter(s):"]
    for record in unexpected:
        dlq = {k: v for k, v in headers_of(record).items() if k.startswith("dlq-")}
        lines.append(f"  {record.topic}[{record.partition}]@{record.offset}: {dlq}")
    return "\n".join(lines)


class UpdateConflictWatch(monitoring.CommandListener):
    """Notes every update sent to the store that names one path under two operators.

    The local store and MongoDB both refuse such an update, but only when it runs; a test that
    never reaches the refused case (an upsert hitting an existing document, say) would miss
    the fault, so the update documents themselves are checked. Paths only, never values."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "update":
            updates = [u.get("u") for u in command.get("updates", ())]
        elif event.command_name == "findAndModify":
            updates = [command.get("update")]
        else:
            return
        collection = command.get(event.command_name)
        for update in updates:
            for a, b in conflicting_paths(update or {}):
                self.found.append(scrub(f"{event.database_name}.{collection}: {a!r} and {b!r}"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return


class TcpProxy:
    """A loopback TCP proxy that a test can cut and restore, to make a server unreachable."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.base_events.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._links.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self._links.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode() for k, v in (record.headers or ())}


class ServiceProcess:
    """A service started as its own OS process (``python -m <name>``), logs to a file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = _free_port()
        broker = _BROKERS.get(env.get("DRIVERHOME_KAFKA_BOOTSTRAP", ""))
        self.env = {
            **os.environ,
            # Its own principal on a secured broker the harness provided (env may override).
            **(broker.service_env(name) if broker else {}),
            **env,
            "DRIVERHOME_HTTP_PORT": str(self.port),
            "DRIVERHOME_HTTP_HOST": "127.0.0.1",
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited: {self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).is_success:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        raise AssertionError(f"{self.name} not ready in {timeout}s: {self.log_tail()}")

    async def wait_exit(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and (code := self.process.poll()) is not None:
                return code
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} did not exit within {timeout}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
