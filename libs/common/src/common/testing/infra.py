"""Where the test infrastructure comes from, and what a client of it needs to authenticate."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.access import ADMIN, AccessTable
from common.kafka_auth import DevCredentials
from common.logging import describe_error, get_logger

log = get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[5]
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
BROKERS: dict[str, Infra] = {}


def access_table() -> AccessTable:
    global _access_table
    if _access_table is None:
        _access_table = AccessTable.load()
    return _access_table


def kafka_options(bootstrap: str) -> dict[str, Any]:
    """aiokafka options for a test tool on a broker the harness provided (or whose
    credentials file it knows): the admin."""
    infra = BROKERS.get(bootstrap)
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
        BROKERS[infra.kafka_bootstrap] = infra
        try:
            yield infra
        finally:
            BROKERS.pop(infra.kafka_bootstrap, None)


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
