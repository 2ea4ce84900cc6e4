"""What the notify service puts on Kafka and takes from it (docs/asyncapi/notify.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract
from common.events import DOMAIN_EVENTS
from notify.app import domain_handlers_types

CONTRACT = ServiceContract(
    name="notify",
    title="driverhome notify",
    description=(
        "Templates, preferences, inbox, deliveries and broadcasts. Turns domain facts into "
        "driver notifications (welcome, points, grade, activity) on the inbox, SMS and partner "
        "webhooks, keeps the driver facts broadcast segments need (fleet, grade, active), and "
        "announces every delivery and failure on `notify.events` through its outbox. Broadcast "
        "fan-out runs through its own work topic `notify.broadcasts` (internal, not for "
        "partners)."
    ),
    publishes={"notify.events": tuple(DOMAIN_EVENTS["notify.events"])},
    consumes=domain_handlers_types(),
    group_id="notify",
)
