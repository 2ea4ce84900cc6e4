"""What the points service puts on Kafka and takes from it (docs/asyncapi/points.json)."""

from __future__ import annotations

from common.asyncapi import PARTNER_TOPIC, ServiceContract

CONTRACT = ServiceContract(
    name="points",
    title="driverhome points",
    description=(
        "Points accounts, the ledger, earning rules, credit grades, the points mall, signed "
        "statements and leaderboards. Opens an account (balance 0, grade A) for every driver "
        "the registry announces, freezes or closes it when the driver is deactivated, and awards "
        "points for station services, activities and partner events under the earning rules. "
        "Every ledger entry is announced once under its own id (the entry id); a grade change "
        "is announced with its reasons."
    ),
    publishes={
        "points.events": (
            "points.awarded.v1",
            "points.redeemed.v1",
            "points.reversed.v1",
            "points.expired.v1",
            "points.adjusted.v1",
            "points.grade_changed.v1",
            "points.erasure_completed.v1",
        )
    },
    consumes={
        "registry.events": (
            "driver.registered.v1",
            "driver.updated.v1",
            "driver.deactivated.v1",
        ),
        "stations.events": ("service.used.v1", "activity.attended.v1"),
        "cases.events": ("case.compensation_granted.v1",),
        PARTNER_TOPIC: (
            "volunteer.logged.v1",
            "safety.milestone.v1",
            "training.completed.v1",
            "port.appointment.kept.v1",
        ),
    },
    group_id="points",
)
