"""How a client authenticates to Kafka: the options aiokafka and FastStream take, from settings
or from a development credentials file (``<infra dir>/kafka/credentials.json``, written by
``deploy/local/infra.sh``, git-ignored)."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from common.settings import ServiceSettings


def client_options(
    bootstrap: str,
    *,
    security_protocol: str = "PLAINTEXT",
    sasl_mechanism: str = "SCRAM-SHA-512",
    username: str | None = None,
    password: str | None = None,
    ssl_cafile: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient``."""
    options: dict[str, Any] = {"bootstrap_servers": bootstrap}
    if security_protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = security_protocol
    if security_protocol.startswith("SASL_"):
        options.update(
            sasl_mechanism=sasl_mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password,
        )
    if security_protocol.endswith("SSL"):
        options["ssl_context"] = _ssl_context(ssl_cafile)
    return options


def _ssl_context(cafile: str | None) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(cafile=cafile) if cafile else create_ssl_context()
    return context


def settings_options(settings: ServiceSettings) -> dict[str, Any]:
    """Client options for the principal a service's settings name."""
    return client_options(
        settings.kafka_bootstrap,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value() if settings.kafka_password else None,
        ssl_cafile=settings.kafka_ssl_cafile,
    )


def faststream_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The FastStream security object for a service's settings (None: plaintext, no auth)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = _ssl_context(settings.kafka_ssl_cafile) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    scram = SASLScram512 if settings.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return scram(
        settings.kafka_username or "",
        settings.kafka_password.get_secret_value() if settings.kafka_password else "",
        ssl_context=ssl_context,
        use_ssl=protocol == "SASL_SSL",
    )


@dataclass(frozen=True)
class DevCredentials:
    """The development credentials of a local broker: every principal's SCRAM password."""

    path: Path
    bootstrap: str
    security_protocol: str
    sasl_mechanism: str
    users: dict[str, str]

    @classmethod
    def load(cls, path: Path | str) -> DevCredentials:
        p = Path(path)
        raw = json.loads(p.read_text())
        return cls(
            path=p,
            bootstrap=raw["bootstrap"],
            security_protocol=raw["security_protocol"],
            sasl_mechanism=raw["sasl_mechanism"],
            users=dict(raw["users"]),
        )

    def options(self, username: str, *, bootstrap: str | None = None) -> dict[str, Any]:
        return client_options(
            bootstrap or self.bootstrap,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            username=username,
            password=self.password(username),
        )

    def password(self, username: str) -> str:
        try:
            return self.users[username]
        except KeyError:
            raise KeyError(f"no development credentials for Kafka user {username!r}") from None

    def env(self, username: str) -> dict[str, str]:
        """``DRIVERHOME_KAFKA_*`` variables that make a service authenticate as ``username``."""
        return {
            "DRIVERHOME_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "DRIVERHOME_KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "DRIVERHOME_KAFKA_USERNAME": username,
            "DRIVERHOME_KAFKA_PASSWORD": self.password(username),
        }
