from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings, district_timezone_field


class PartnersSettings(ServiceSettings):
    service_name: str = "partners"
    http_port: int = 8006
    mongo_db: str = "driverhome_partners"

    # HTTP ingest: a body larger than this is refused (413) before it is parsed; a batch may
    # hold at most this many events. One event must still fit a Kafka record.
    ingest_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Most events one batch ingest request may hold; a larger batch is refused (413).
    ingest_max_batch: int = Field(default=100, ge=1, le=1000)
    # Defaults for partner accounts that set none: events per second (across all instances)
    # and per day, the day counted in the district's time zone (DRIVERHOME_QUOTA_TIMEZONE is
    # its earlier name).
    default_rate_per_second: int = Field(default=100, ge=1)
    # Events per district day for an account without its own daily quota.
    default_daily_quota: int = Field(default=1_000_000, ge=1)
    district_timezone: str = district_timezone_field("DRIVERHOME_QUOTA_TIMEZONE")

    # Timeout, in seconds, of each notice to a partner's webhook.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # How often, in seconds, due notices are sent to partners' webhooks.
    webhook_sweep_seconds: float = Field(default=1.0, gt=0)
    # Attempts at a webhook notice before it is given up.
    webhook_max_attempts: int = Field(default=12, ge=1)
    # Longest delay, in seconds, between a notice's retries (doubling per attempt up to this).
    webhook_backoff_max_seconds: float = Field(default=600.0, gt=0)
    # Networks a partner's webhook may target though they are not public (loopback in tests, a
    # partner's private link); everything else internal is refused (common.webhook_targets).
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    # An event points holds for a driver without an account longer than this is reported to
    # the partner's webhook once (points gives it up later, after its own parked_hold_days).
    parked_notice_after_hours: float = Field(default=24.0, gt=0)
