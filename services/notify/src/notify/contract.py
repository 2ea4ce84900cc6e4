"""What the notify service puts on Kafka and takes from it today (docs/asyncapi/notify.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract

CONTRACT = ServiceContract(
    name="notify",
    title="driverhome notify",
    description=(
        "Templates, preferences, inbox, deliveries and broadcasts. It will consume every domain "
        "topic (to turn facts into notifications) and publish `notify.events`; today it neither "
        "consumes nor publishes."
    ),
)
