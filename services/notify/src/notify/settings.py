from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from common.settings import ServiceSettings, district_timezone_field

AnnouncementScope = Literal["district", "fleet", "none"]
# A monthly star is its fleet's news; the yearly honours are the district's.
HONOUR_ANNOUNCEMENTS: dict[str, AnnouncementScope] = {
    "monthly_star": "fleet",
    "model_driver": "district",
    "safety_model": "district",
    "good_samaritan": "district",
}


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = 8004
    mongo_db: str = "driverhome_notify"

    # Language used when neither the driver's preference nor profile names a supported one.
    default_language: str = "zh-CN"
    # Quiet hours are wall-clock times in the district; DRIVERHOME_TIMEZONE is its earlier name.
    district_timezone: str = district_timezone_field("DRIVERHOME_TIMEZONE")

    # The dispatcher: releases held messages, sends external channels, starts due broadcasts.
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    # Most held messages released, and most due external sends claimed, per dispatcher pass.
    dispatch_batch: int = Field(default=200, ge=1)
    # Seconds a dispatcher holds a claimed external send before another may take it over.
    send_lease_seconds: float = Field(default=120.0, gt=0)

    # Timeout, in seconds, of each webhook call and each call to the SMS gateway.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Attempts at an external send (webhook or SMS) before the notification fails for good.
    webhook_max_attempts: int = Field(default=6, ge=1)
    # Base retry delay, in seconds, of a failed send (doubling per attempt); also the most
    # jitter added.
    webhook_backoff_initial_seconds: float = Field(default=1.0, gt=0)
    # Longest delay, in seconds, between retries of a failed send.
    webhook_backoff_max_seconds: float = Field(default=60.0, gt=0)
    # Retryable failures in a row of one endpoint that open its circuit (its sends deferred).
    breaker_failure_threshold: int = Field(default=5, ge=1)
    # Seconds an open circuit defers sends before one call may probe the endpoint again.
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    # Networks a webhook may target even though they are not public (loopback in tests, a
    # partner's VPN range on a private deployment). Outside development nothing else private is.
    webhook_allowed_networks: list[str] = Field(default_factory=list)

    # The SMS gateway's send endpoint; unset (or no sms_api_key): SMS messages fail unsent.
    sms_gateway_url: str | None = None
    # Bearer key sent to the SMS gateway, and the key its delivery receipts must present.
    sms_api_key: SecretStr | None = None
    # Signature name (sign_name) sent to the SMS gateway with each message.
    sms_sign_name: str = "司机之家"

    # Drivers per page when a broadcast is resolved into work items.
    broadcast_batch_size: int = Field(default=500, ge=1, le=5000)
    # Seconds a process holds a broadcast it resolves; renewed with each page recorded.
    broadcast_lease_seconds: float = Field(default=30.0, gt=0)
    # Pages of a broadcast one process fans out at once (planned while others are stored): 4
    # fanned out 100,000 inboxes 14 % faster than 2 in eight alternating runs (docs/performance.md).
    broadcast_pages_at_once: int = Field(default=4, ge=1, le=16)
    # How a broadcast's inbox deliveries are announced: ``page`` (one
    # notification.broadcast_delivered.v1 per page of drivers) or ``driver`` (the older
    # notification.delivered.v1 per inbox, for consumers not yet reading the page event).
    broadcast_announcements: Literal["page", "driver"] = "page"
    # A page's work item carries its drivers' facts as the resolver read them: fanned out within
    # this many seconds of that read, the facts are not read again (a driver deactivated in
    # between still gets this broadcast; erased drivers and drivers an SMS would reach are
    # always checked afresh). Older pages, and 0, read them at fan-out (notify.fanout).
    broadcast_facts_fresh_seconds: float = Field(default=60.0, ge=0, le=3600)

    # A driver counts as driving until this long after stations' last driving.reported.v1
    # (stations renews it every driving_report_every_minutes, 10, while the drive lasts);
    # non-urgent pushes wait until then or the drive's end (notify.driving).
    driving_stale_minutes: float = Field(default=30.0, gt=0, le=24 * 60)

    # Where a round of honours is announced (notify.honours), per category: the whole district
    # (every driver), each winner's fleet (its winners only), or nowhere.
    honour_announcements: dict[str, AnnouncementScope] = Field(
        default_factory=lambda: dict(HONOUR_ANNOUNCEMENTS)
    )

    # At most this many non-urgent notifications per driver and category per window; the rest
    # still reach the inbox, quietly, but no SMS or webhook goes out for them.
    rate_limit_per_window: int = Field(default=10, ge=1)
    # Length, in seconds, of the fixed windows rate_limit_per_window counts in.
    rate_limit_window_seconds: int = Field(default=3600, ge=1)
