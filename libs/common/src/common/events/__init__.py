"""The event catalogue: the code partners and services agree on (handbook section 2)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from common.events import (
    aid,
    aid_campaigns,
    cases,
    commitments,
    honours,
    mutual_help,
    notify,
    partner,
    partners,
    party,
    points,
    registry,
    stations,
)
from common.events.base import CloudEvent, EventData, new_event

DOMAIN_EVENTS: dict[str, dict[str, type[EventData]]] = {
    "registry.events": {
        m.event_type: m
        for m in (
            registry.DriverRegistered,
            registry.DriverUpdated,
            registry.DriverVerified,
            registry.DriverDeactivated,
            registry.DriverPartnerLinked,
            registry.DriverPartnerUnlinked,
            registry.OrganisationPlaced,
            registry.GridPlaced,
            registry.PersonAppointed,
            registry.PersonDismissed,
            registry.CensusNeedReferred,
            registry.CensusResultsFedBack,
        )
    },
    "stations.events": {
        m.event_type: m
        for m in (
            stations.ServiceUsed,
            stations.ActivityAttended,
            stations.RestNudged,
            stations.RestTaken,
            stations.DrivingReported,
            stations.StationsErasureCompleted,
            stations.LifecycleCatalogueVersioned,
        )
    },
    "points.events": {
        m.event_type: m
        for m in (
            points.PointsAwarded,
            points.PointsRedeemed,
            points.PointsReversed,
            points.PointsExpired,
            points.GradeChanged,
            points.PointsAdjusted,
            points.EventParked,
            points.PointsErasureCompleted,
        )
    },
    "notify.events": {
        m.event_type: m
        for m in (
            notify.NotificationDelivered,
            notify.BroadcastDelivered,
            notify.NotificationFailed,
            notify.NotifyErasureCompleted,
        )
    },
    "cases.events": {
        m.event_type: m
        for m in (
            cases.CaseOpened,
            cases.CaseAssigned,
            cases.CaseStatusChanged,
            cases.CaseDeadlineWarning,
            cases.CaseBreached,
            cases.CaseDeadlineExtended,
            cases.CaseResolved,
            cases.CaseClosed,
            cases.CaseCompensationGranted,
            cases.CaseDeadlinesRecomputed,
            cases.CalendarYearLoaded,
            cases.CasesErasureCompleted,
            mutual_help.HelpPosted,
            mutual_help.HelpClaimed,
            mutual_help.HelpCompleted,
            mutual_help.HelpFailed,
            mutual_help.HelpUnclaimed,
            honours.HonourAwarded,
            honours.HonourRoundAnnounced,
            commitments.CommitmentPublished,
            commitments.CommitmentSelfAssessed,
            commitments.CommitmentEvaluated,
            aid.AidApplied,
            aid.AidFirstApproved,
            aid.AidGranted,
            aid.AidRejected,
            aid_campaigns.GiftAllotted,
            aid_campaigns.GiftDelivered,
            aid_campaigns.HardshipVisited,
            party.PartyMeetingInvited,
            party.PartyMeetingHeld,
            party.PartyAttendanceRecorded,
            party.MemberPointsAwarded,
        )
    },
    "partners.events": {
        m.event_type: m
        for m in (
            partners.PartnerRegistered,
            partners.PartnerUpdated,
            partners.PartnerSuspended,
            partners.PartnerReinstated,
            partners.PartnersErasureCompleted,
        )
    },
}

PARTNER_EVENTS: dict[str, type[EventData]] = {
    m.event_type: m
    for m in (
        partner.PartnerDriverRegistered,
        partner.PartnerServiceUsed,
        partner.VolunteerLogged,
        partner.SafetyMilestone,
        partner.TrainingCompleted,
        partner.PortAppointmentKept,
        partner.DrivingSession,
        partner.PartyMeetingAttendance,
        partner.PartyLearningRecorded,
    )
}


class InvalidEvent(ValueError):
    """The message can never be processed as it is: it belongs in the DLQ, with this reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def parse_envelope(raw: bytes) -> CloudEvent:
    try:
        return CloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent("malformed_envelope", _summarise(exc)) from exc


D = TypeVar("D", bound=EventData)


def parse_data(event: CloudEvent, model: type[D]) -> D:
    """Validate ``data`` against its type, filling fields that default to the envelope."""
    defaults = model.envelope_defaults()
    payload = event.data
    missing = [n for n in defaults if payload.get(n) is None]
    if missing:
        payload = {**payload, **{n: getattr(event, defaults[n]) for n in missing}}
    try:
        data = model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEvent("invalid_data", _summarise(exc)) from exc
    driver_id = getattr(data, "driver_id", None)
    if driver_id is not None and driver_id != event.subject:
        raise InvalidEvent("subject_mismatch", "subject must be the data's driver_id")
    for name, attribute in defaults.items():
        # Compared after validation: the same instant written with another offset agrees.
        if attribute == "time" and getattr(data, name) != event.time:
            raise InvalidEvent("time_mismatch", f"data.{name} must equal the envelope's time")
    return data


def _summarise(exc: ValidationError) -> str:
    # Only locations and messages: never echo input values, which may hold personal data.
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    ]
    return "; ".join(parts)[:500]


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event's data, keyed ``<topic-family>/<type>``."""
    out: dict[str, dict[str, Any]] = {"envelope": CloudEvent.model_json_schema()}
    for topic, models in DOMAIN_EVENTS.items():
        for event_type, model in models.items():
            out[f"{topic}/{event_type}"] = model.model_json_schema()
    for event_type, model in PARTNER_EVENTS.items():
        out[f"partner.<partner_id>.events/{event_type}"] = model.model_json_schema()
    return out


__all__ = [
    "DOMAIN_EVENTS",
    "PARTNER_EVENTS",
    "CloudEvent",
    "EventData",
    "InvalidEvent",
    "json_schemas",
    "new_event",
    "parse_data",
    "parse_envelope",
]
