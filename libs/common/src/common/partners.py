"""The partner catalogue: which partner may publish which event types."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# Every partner event's CloudEvents ``source`` is this plus the partner's id.
PARTNER_SOURCE_PREFIX = "partner/"
# Every partner's topic, as contracts and documents name it (consumed by pattern).
PARTNER_TOPIC = "partner.{partner_id}.events"

PARTNER_ID_PATTERN = r"^[a-z0-9-]+$"
PARTNER_ID_MAX = 64
PartnerId = Annotated[str, StringConstraints(pattern=PARTNER_ID_PATTERN, max_length=PARTNER_ID_MAX)]
PartnerCatalogue = dict[PartnerId, list[str]]

DEFAULT_PARTNERS: PartnerCatalogue = {
    # The booking system knows trips, so it reports driving sessions (rest nudges, issue 17).
    "port-booking": ["driver.registered.v1", "port.appointment.kept.v1", "driving.session.v1"],
    "station-kiosk": ["service.used.v1"],
    "volunteer-team": ["volunteer.logged.v1"],
    "traffic-safety": ["safety.milestone.v1"],
    "training-centre": ["training.completed.v1"],
    # The party-building platform (002:27 智慧化管理平台: 党员教育, 支部动态): its online branch
    # meetings report joins and leaves, its 掌上课堂 learning time (party life, issue 17).
    "party-platform": ["party.meeting.attendance.v1", "party.learning.recorded.v1"],
}


def partner_of_source(source: str | None) -> str | None:
    """``partner/port-booking`` -> ``port-booking``; anything else (another writer, a malformed
    id) -> None."""
    if source is None or not source.startswith(PARTNER_SOURCE_PREFIX):
        return None
    partner_id = source.removeprefix(PARTNER_SOURCE_PREFIX)
    fits = len(partner_id) <= PARTNER_ID_MAX and re.fullmatch(PARTNER_ID_PATTERN, partner_id)
    return partner_id if fits else None


def partner_of_topic(topic: str, prefix: str = "") -> str | None:
    """``partner.port-booking.events`` -> ``port-booking``; anything else -> None."""
    if not topic.startswith(prefix):
        return None
    match topic[len(prefix) :].split("."):
        case ["partner", partner_id, "events"]:
            return partner_id
        case _:
            return None
