"""Configuration shared by every service.

Each service subclasses :class:`ServiceSettings` once and builds it in ``__main__`` (or a test
fixture); nothing here is instantiated at import time.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.dev_issuer import DEV_ISSUER, service_audience
from common.partners import DEFAULT_PARTNERS, PartnerCatalogue
from common.request_limits import RequestLimitSettings

# The port district lies in one time zone; a station's hours default to it too.
DISTRICT_TIMEZONE = "Asia/Shanghai"

# Development keys: fixed so a developer's data survives restarts; refused in production.
_DEV_PII_KEY = base64.b64encode(b"driverhome-dev-pii-aesgcm-key-32").decode()
_DEV_PII_HMAC_KEY = base64.b64encode(b"driverhome-dev-pii-hmac-key-0032").decode()
# The port booking system's own hash key: never the internal lookup key (a partner holding that
# could reverse every stored phone and ID hash by enumerating the few billion numbers).
_DEV_PARTNER_HASH_KEY = base64.b64encode(b"driverhome-dev-port-booking-hash").decode()
DEVELOPMENT_KEYS = frozenset({_DEV_PII_KEY, _DEV_PII_HMAC_KEY, _DEV_PARTNER_HASH_KEY})


class ServiceSettings(RequestLimitSettings, BaseSettings):
    """Settings every service needs; read from ``DRIVERHOME_*`` environment variables."""

    # By name as well: a service may also read a field from its earlier, documented name.
    model_config = SettingsConfigDict(
        env_prefix="DRIVERHOME_", extra="ignore", populate_by_name=True
    )

    # The service's name in its logs, metrics, Kafka client ids and Mongo app name; also the
    # default token audience (`driverhome-<service_name>`).
    service_name: str = "service"
    # Unset means production: a deployment that forgets it gets the strict checks, not the
    # development keys. `make run`, `make test`, bench and chaos say development/test.
    environment: Literal["development", "test", "production"] = "production"
    # Address the HTTP server (uvicorn) listens on.
    http_host: str = "127.0.0.1"
    # Port the HTTP server listens on.
    http_port: int = 8000
    # Level of the JSON logs (DEBUG, INFO, …); aiokafka, kafka and pymongo log WARNING at least.
    log_level: str = "INFO"

    # The Kafka broker address(es) clients bootstrap from (host:port).
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Who this process is on the bus (deploy/access.yaml says what that principal may do).
    # Development credentials: <repo>/.infra/kafka/credentials.json (`make run` passes them).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    # SCRAM mechanism that authenticates the principal under a SASL_* protocol.
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    # This process's Kafka principal (SASL username); each record it publishes names it as
    # producer (the service name when unset).
    kafka_username: str | None = None
    # The SASL password of kafka_username (needed with a SASL_* protocol).
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None  # the CA that signed the brokers' certificates
    # Put before every topic and consumer group name the service uses (letters, digits, . _ -).
    topic_prefix: str = ""
    # Declared topic shape (local 12/1/1, production 12/3/2). Outside production a service
    # creates its missing topics so; in production it checks them and refuses to start.
    topic_partitions: int = Field(default=12, ge=1, le=1000)
    # Replicas of each topic: created with it outside production, checked in production.
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    # Each topic's min.insync.replicas (at most the replication factor), set or checked likewise.
    topic_min_insync_replicas: int = Field(default=1, ge=1, le=10)
    # Kept equal to the broker's message.max.bytes so a producer never builds a record the
    # broker refuses (handbook section 3: limits agree end to end).
    max_message_bytes: int = 1_048_576

    # Days (quotas, statements), office hours and quiet hours are counted in it.
    district_timezone: str = DISTRICT_TIMEZONE

    # MongoDB connection string.
    mongo_url: str = "mongodb://127.0.0.1:27017"
    # Name of the MongoDB database the service keeps its data in.
    mongo_db: str = "driverhome"
    # Milliseconds to wait for a MongoDB server to be selected and for a connection to open.
    mongo_timeout_ms: int = 5_000

    # Bearer tokens (common.auth): signed by the identity provider with an asymmetric key,
    # verified against its JWKS; `iss` must be jwt_issuer, `aud` must name this service.
    # Outside production both default to the development issuer (common.dev_issuer).
    jwt_issuer: str | None = None
    jwt_audience: str | None = None  # default: driverhome-<service_name>
    jwt_jwks_url: str | None = None  # production: the provider's https JWKS endpoint
    jwt_jwks: str | None = None  # or the JWKS document itself (JSON)
    jwt_jwks_file: str | None = None  # or a file holding it
    # Seconds keys fetched from jwt_jwks_url are used before they are fetched again.
    jwt_jwks_ttl_seconds: float = Field(default=300.0, gt=0)
    # Unknown key ids refresh the JWKS at most this often (made-up kids cannot force fetches).
    jwt_jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)
    # Clock skew allowed, in seconds, when checking a token's exp, nbf and iat.
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    dev_keys_dir: str | None = None  # the development issuer's key pair (common.dev_issuer)

    # Personal data (common.pii). Every stored hash and ciphertext names its key id; keys
    # rotated out stay readable (retired) until the rotation job has rewritten everything.
    pii_key: str = _DEV_PII_KEY
    # Key id stored with every ciphertext made with pii_key (the current AES-GCM key, base64).
    pii_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    # Rotated-out AES keys by key id (base64): they still decrypt until the rotation job has
    # rewritten everything.
    pii_retired_keys: dict[str, str] = Field(default_factory=dict)
    # Base64 key of the lookup hashes (HMAC-SHA256) of personal values; also keys the pseudonyms
    # of erased drivers.
    pii_hmac_key: str = _DEV_PII_HMAC_KEY
    # Key id stored with every lookup hash made with pii_hmac_key.
    pii_hmac_key_id: str = Field(default="h1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    # Rotated-out hash keys by key id (base64): lookups still match their hashes until
    # rewritten.
    pii_retired_hmac_keys: dict[str, str] = Field(default_factory=dict)
    # Per partner: {key id: base64 key} for hashes the partner computes itself (the booking
    # system's national_id_hash; only the registry needs them). Every key listed is accepted;
    # each partner has its own. Outside production the booking system has a development key.
    partner_hash_keys: dict[str, dict[str, str]] = Field(default_factory=dict)
    # How often, in seconds, the key rotation job rewrites values still under a retired key
    # (first run one interval after start).
    key_rotation_interval_seconds: float = Field(default=3600.0, gt=0)
    # Documents the key rotation job reads per batch (it pauses briefly between batches).
    key_rotation_batch_size: int = Field(default=200, ge=1, le=10_000)

    # Partner catalogue: per partner id, the event types it may publish (until partners.events
    # says otherwise); each one's topic is ensured at start, and partners seeds accounts from it.
    partners: PartnerCatalogue = Field(default_factory=lambda: dict(DEFAULT_PARTNERS))

    # Consumer group base name; a new name replays every topic from the start (a rebuild).
    consumer_group: str | None = None
    # How often, in seconds, the outbox sweeper republishes what a crash left unsent; four
    # eyes requests are swept as often (approved ones finished).
    outbox_sweep_seconds: float = 2.0
    # Attempts at an event whose handler keeps failing unexpectedly before it is
    # dead-lettered (transient errors are retried without limit).
    consumer_max_attempts: int = Field(default=5, ge=1)
    # How soon a consumer subscribed by pattern sees a topic created after it started (a
    # partner registered through the API, once the platform provisioned its topic).
    kafka_metadata_max_age_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Records per batch for subscriptions that consume in batches (one commit per batch).
    consumer_batch_size: int = Field(default=100, ge=1, le=1000)
    # Keys of a batch handled at once by subscriptions whose handlers allow it (points'
    # earnings): the store round trips of different drivers overlap; one key stays in order.
    consumer_key_lanes: int = Field(default=64, ge=1, le=256)
    # Longest wait, in seconds, before retrying a failed event (0.2 s doubling per attempt,
    # with jitter).
    consumer_backoff_max_seconds: float = 30.0
    # Topics are created with this retention. Processed-event and Idempotency-Key records are
    # kept longer (validated), so a consumer replaying a topic from its earliest offset still
    # finds the record of every event it can read and handles each as a duplicate.
    topic_retention_hours: float = Field(default=168.0, gt=0)
    # Days before records of collections with a purge field (processed events,
    # Idempotency-Keys, …) are purged; must exceed topic_retention_hours.
    dedupe_retention_days: float = Field(default=30.0, gt=0)
    # How often, in seconds, the retention purge deletes records and personal data past their
    # retention.
    purge_interval_seconds: float = Field(default=3600.0, gt=0)
    # Records the retention purge deletes per round (it pauses briefly between rounds).
    purge_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # Personal data classes' retention in days, by class name, overriding each service's
    # defaults (its retention.py; docs/security.md lists them), e.g. {"inbox": 90}.
    retention_days: dict[str, float] = Field(default_factory=dict)
    # Seconds a request in progress holds its Idempotency-Key without renewal (it renews every
    # third of it); a retry after that takes the key over.
    idempotency_lease_seconds: float = Field(default=30.0, gt=0)
    # Four eyes (common.approvals): a request nobody decided within this many hours expires.
    approval_ttl_hours: float = Field(default=72.0, gt=0, le=24 * 90)

    # Test-only failure injection (see common.faults); empty and inert in production.
    faults: dict[str, str] = Field(default_factory=dict)

    @field_validator("district_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            raise ValueError("topic_prefix may hold only letters, digits, '.', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _records_outlive_the_topics(self) -> ServiceSettings:
        if self.dedupe_retention_days * 24 <= self.topic_retention_hours:
            raise ValueError(
                "dedupe_retention_days must exceed topic_retention_hours: a replay from the "
                "earliest offset would otherwise meet events whose records were purged"
            )
        return self

    @model_validator(mode="after")
    def _kafka_principal_is_complete(self) -> ServiceSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_username and self.kafka_password
        ):
            raise ValueError("a SASL security protocol needs kafka_username and kafka_password")
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError("topic_min_insync_replicas cannot exceed topic_replication_factor")
        return self

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> ServiceSettings:
        if self.environment != "production" and not self.partner_hash_keys:
            self.partner_hash_keys = {"port-booking": {"pb1": _DEV_PARTNER_HASH_KEY}}
        if self.environment == "production":
            problems = production_key_problems(self)
            if problems:
                raise ValueError("; ".join(problems))
            if self.faults:
                raise ValueError("fault injection is not allowed in production")
        return self

    @property
    def token_issuer(self) -> str:
        """The issuer tokens must name (production has no default: the validator saw to it)."""
        return self.jwt_issuer or DEV_ISSUER

    @property
    def token_audience(self) -> str:
        return self.jwt_audience or service_audience(self.service_name)

    def topic(self, name: str) -> str:
        """The physical topic name for a logical one (``registry.events`` …)."""
        return f"{self.topic_prefix}{name}"

    def partner_topic(self, partner_id: str) -> str:
        return self.topic(f"partner.{partner_id}.events")

    @property
    def partner_topic_pattern(self) -> str:
        # Anchored at both ends so the partner topics' `.dlq` twins never match.
        return rf"^{re.escape(self.topic_prefix)}partner\.[a-z0-9-]+\.events$"


def production_key_problems(settings: ServiceSettings) -> list[str]:
    """What production refuses: the development issuer or its keys, the development PII keys,
    one key shared between purposes or with a partner. Each names its variable."""
    problems = []
    if not settings.jwt_issuer or settings.jwt_issuer == DEV_ISSUER:
        problems.append("DRIVERHOME_JWT_ISSUER: production needs the identity provider's issuer")
    if not (settings.jwt_jwks_url or settings.jwt_jwks or settings.jwt_jwks_file):
        problems.append("DRIVERHOME_JWT_JWKS_URL: production needs the identity provider's keys")
    elif settings.jwt_jwks_url and not settings.jwt_jwks_url.startswith("https://"):
        problems.append("DRIVERHOME_JWT_JWKS_URL must be an https URL in production")
    if settings.dev_keys_dir:
        problems.append("DRIVERHOME_DEV_KEYS_DIR: the development issuer is not for production")
    internal = [settings.pii_key, settings.pii_hmac_key]
    internal += [*settings.pii_retired_keys.values(), *settings.pii_retired_hmac_keys.values()]
    partner = [key for keys in settings.partner_hash_keys.values() for key in keys.values()]
    if DEVELOPMENT_KEYS.intersection(internal + partner):
        problems.append("production needs its own PII and partner hash keys")
    if len(set(internal + partner)) < len(internal + partner):
        problems.append("every PII key and partner hash key must be a different key")
    return problems


# ----------------------------------------------------------------------------- --check
# Settings whose default is a development value: production must be given its own.
_SECRET_SUFFIXES = ("_key", "_secret", "_password")
# Settings production needs that have no default (any one variable of a group will do).
_PRODUCTION_REQUIRED = (
    ("DRIVERHOME_JWT_ISSUER",),
    ("DRIVERHOME_JWT_JWKS_URL", "DRIVERHOME_JWT_JWKS", "DRIVERHOME_JWT_JWKS_FILE"),
)


def settings_problems(cls: type[ServiceSettings]) -> list[str]:
    """Why ``cls`` would refuse to start with this environment, each naming its variable.

    An init step for containers (``python -m common.settings --check --service points``): a
    pod fails fast with ``DRIVERHOME_STATEMENT_SIGNING_KEY is not set`` rather than with a
    validation trace from the middle of the service's start-up."""
    from pydantic import ValidationError

    prefix = "DRIVERHOME_"
    try:
        settings = cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"]).upper()
            # A field read from full variable names (district_timezone_field) has one in loc.
            name = field if field.startswith(prefix) else f"{prefix}{field}"
            problems.append(f"{name}: {error['msg']}" if field else error["msg"])
        # A model-level refusal ("production needs its own ...") names no field: name the
        # development values still in force.
        if any(not error["loc"] for error in exc.errors()):
            problems.extend(_development_values(cls.model_construct(), prefix))
        return problems
    if settings.environment == "production":
        return _development_values(settings, prefix)
    return []


def _development_values(settings: ServiceSettings, prefix: str) -> list[str]:
    import os

    problems = [
        f"{group[0]} is not set (production has no development issuer)"
        for group in _PRODUCTION_REQUIRED
        if not any(os.environ.get(name) for name in group)
    ]
    for name, info in type(settings).model_fields.items():
        if not name.endswith(_SECRET_SUFFIXES) or info.default is None:
            continue
        if f"{prefix}{name.upper()}" not in os.environ:
            problems.append(f"{prefix}{name.upper()} is not set (its development value is refused)")
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse
    import importlib
    import inspect
    import os

    parser = argparse.ArgumentParser(prog="python -m common.settings")
    parser.add_argument("--check", action="store_true", help="validate, naming what is missing")
    parser.add_argument("--service", default=os.environ.get("SERVICE"), help="e.g. points")
    args = parser.parse_args(argv)
    # Run as ``python -m common.settings`` this module is ``__main__``: the services' settings
    # subclass the class of the imported module, so use that one.
    common = importlib.import_module("common.settings")
    base: type[ServiceSettings] = common.ServiceSettings
    cls = base
    if args.service:
        module = importlib.import_module(f"{args.service}.settings")
        found = [
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, base) and obj is not base
        ]
        cls = found[0] if found else base
    problems: list[str] = common.settings_problems(cls)
    for problem in problems:
        print(f"settings: {problem}")
    if problems:
        return 1
    print(f"settings: {cls.__name__} is complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def district_timezone_field(*earlier_names: str) -> Any:
    """``district_timezone`` for a service that documented the setting under another name:
    ``DRIVERHOME_DISTRICT_TIMEZONE`` or any of ``earlier_names`` (full variable names)."""
    return Field(
        default=DISTRICT_TIMEZONE,
        validation_alias=AliasChoices("DRIVERHOME_DISTRICT_TIMEZONE", *earlier_names),
    )
