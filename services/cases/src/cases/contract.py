"""What the cases service puts on Kafka and takes from it (docs/asyncapi/cases.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract

CONTRACT = ServiceContract(
    name="cases",
    title="driverhome cases",
    description=(
        "Drivers' requests and complaints through the closed loop: intake, routing, handling, "
        "answer and revisit. Every transition of a case is announced once under the id "
        "`<case_id>:v<version>`; deadline warnings and escalations once under "
        "`<case_id>:<clock>:r<round>:<warn|breachN>` (the recurring progress clock adds "
        "`:p<period>` from its second period); compensations under their "
        "`compensation_id`. Events carry ids, categories and states, never free text or "
        "personal data. Opens a care dossier for every driver the registry announces, and notes on "
        "a case when the points service has credited one of its compensations."
    ),
    publishes={
        "cases.events": (
            "case.opened.v1",
            "case.assigned.v1",
            "case.status_changed.v1",
            "case.deadline_warning.v1",
            "case.breached.v1",
            "case.deadline_extended.v1",
            "case.resolved.v1",
            "case.closed.v1",
            "case.compensation_granted.v1",
            "case.deadlines_recomputed.v1",
            "calendar.year_loaded.v1",
            "cases.erasure_completed.v1",
        )
    },
    consumes={
        "registry.events": ("driver.registered.v1", "driver.deactivated.v1"),
        "points.events": ("points.awarded.v1",),
    },
    group_id="cases",
)
