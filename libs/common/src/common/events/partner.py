"""Events partners publish on their own topic ``partner.<partner_id>.events``.

``source`` must be ``partner/<partner_id>`` and the type must be allowed for that partner by the
partner catalogue. The port booking system knows a driver by its own reference and a keyed hash
of the national ID (HMAC-SHA256 with the key agreed with the district), never the number itself.

Data fields that repeat the envelope (``driver_id`` is its ``subject``, the ``*_at`` time is its
``time``) are optional: the handbook's examples leave them out. Typed as always present because
``parse_data`` fills them from the envelope before a consumer sees the model.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData, from_envelope


class PartnerDriverRegistered(EventData):
    event_type: ClassVar[str] = "driver.registered.v1"

    partner_driver_ref: str = Field(min_length=1, max_length=100)
    national_id_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str | None = Field(default=None, max_length=100)
    plate: str | None = Field(default=None, max_length=16)


class PartnerServiceUsed(EventData):
    event_type: ClassVar[str] = "service.used.v1"

    driver_id: str = from_envelope("subject")
    station_id: str
    service_code: str = Field(min_length=1, max_length=64)
    used_at: AwareDatetime = from_envelope("time")
    kiosk_id: str | None = None


class VolunteerLogged(EventData):
    event_type: ClassVar[str] = "volunteer.logged.v1"

    driver_id: str = from_envelope("subject")
    activity: str = Field(min_length=1, max_length=200)
    hours: float = Field(gt=0, le=24)
    logged_at: AwareDatetime = from_envelope("time")
    team: str | None = None


class SafetyMilestone(EventData):
    event_type: ClassVar[str] = "safety.milestone.v1"

    driver_id: str = from_envelope("subject")
    milestone: str = Field(min_length=1, max_length=100, examples=["days_without_violation"])
    days: int = Field(ge=1)
    reached_at: AwareDatetime = from_envelope("time")


class TrainingCompleted(EventData):
    event_type: ClassVar[str] = "training.completed.v1"

    driver_id: str = from_envelope("subject")
    course_id: str
    course_name: str | None = None
    hours: float = Field(gt=0, le=200)
    completed_at: AwareDatetime = from_envelope("time")


class PortAppointmentKept(EventData):
    event_type: ClassVar[str] = "port.appointment.kept.v1"

    driver_id: str = from_envelope("subject")
    appointment_id: str
    terminal: str
    on_time: bool
    kept_at: AwareDatetime = from_envelope("time")


class DrivingSession(EventData):
    """A driver's current driving session, from telematics or the booking system (issue 17).

    Sent as often as the partner likes (e.g. every 15 minutes while driving). The stations
    service reads the position only for a driver who consented to location, only to find the
    nearest station to rest at, and keeps no position: nothing of it is stored.
    """

    event_type: ClassVar[str] = "driving.session.v1"

    driver_id: str = from_envelope("subject")
    session_id: str = Field(
        min_length=1, max_length=100, description="The partner's id of this continuous drive"
    )
    continuous_minutes: int = Field(ge=0, le=24 * 60, description="Driven without a rest")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    reported_at: AwareDatetime = from_envelope("time")
    ended: bool = Field(
        default=False,
        description="The session's last report: the driver stopped (a rest, the day's end)",
    )


class PartyMeetingAttendance(EventData):
    """A party member joined or left an online branch meeting (issue 17; docs/party-life.md).

    From the meeting system (a partner): one event per join or leave, in any order and as often
    as it likes; the cases service counts the minutes inside the meeting's time, only for
    members of the meeting's branch who consented to ``party_life``, once per event id.
    """

    event_type: ClassVar[str] = "party.meeting.attendance.v1"

    driver_id: str = from_envelope("subject")
    meeting_id: str = Field(min_length=1, max_length=64, description="The cases service's id")
    action: Literal["joined", "left"]
    at: AwareDatetime = from_envelope("time")


class PartyLearningRecorded(EventData):
    """Learning time a party member spent on a course of the learning platform (掌上课堂)."""

    event_type: ClassVar[str] = "party.learning.recorded.v1"

    driver_id: str = from_envelope("subject")
    course_ref: str = Field(min_length=1, max_length=100, description="The platform's course")
    minutes: int = Field(ge=1, le=600, description="Minutes learnt in this session")
    learned_at: AwareDatetime = from_envelope("time")
