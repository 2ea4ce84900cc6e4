from __future__ import annotations

from pydantic import Field

from cases.calendar import library_years
from common.settings import ServiceSettings


class CasesSettings(ServiceSettings):
    service_name: str = "cases"
    http_port: int = 8005
    mongo_db: str = "driverhome_cases"

    # Years taken from the chinesecalendar package (default: every year it knows). Operators
    # load further years' notices (PUT /v1/calendars/{year}); a deadline in a year loaded
    # neither way is counted on weekends only and marked provisional until it is.
    calendar_years: list[int] = Field(default_factory=library_years)
    # Notice files loaded at start-up for years not loaded yet; empty: the packaged ones.
    holiday_notices_dir: str = ""
    # Time zone of the business calendar: its days and office hours.
    calendar_timezone: str = "Asia/Shanghai"
    # When the office opens on a working day (HH:MM, calendar_timezone).
    office_opens: str = "09:00"
    # When it closes (HH:MM); a deadline counted in working days falls due then.
    office_closes: str = "17:00"

    # First-handler responsibility: a unit may hand a case back within this office time.
    return_window_hours: float = Field(default=2.0, gt=0)
    # Days after closing within which a resolved case may be reopened.
    reopen_window_days: float = Field(default=30.0, gt=0)
    # Days after a rejection within which it may be objected to.
    objection_window_days: float = Field(default=15.0, gt=0)
    # Days after a merge within which it may be undone.
    unmerge_window_days: float = Field(default=7.0, gt=0)
    # Most working days one extension of the resolution deadline may add (one per round).
    max_extension_working_days: int = Field(default=15, ge=1)
    # A new case lists the driver's open cases of its category opened within this many
    # days as possible duplicates.
    duplicate_lookback_days: int = Field(default=30, ge=1)

    # Points credited automatically when we miss our own deadline (once per clock and round).
    missed_deadline_points: int = Field(default=20, gt=0)
    # Most points one compensation (restoration or goodwill) of an upheld complaint may grant.
    max_goodwill_points: int = Field(default=500, gt=0)
    # Four eyes: goodwill compensation of more than this many points waits for a second
    # supervisor's approval (cases:supervise, another person); restoration never does.
    goodwill_approval_threshold: int = Field(default=100, ge=0)

    # Aid kinds and their rules as JSON (the shape of cases.aid_kinds.DEFAULT_KINDS); empty:
    # the built-in living, study, serious-illness and elderly-care kinds.
    aid_kinds_file: str = ""

    # Largest size, in bytes, of each attachment a new case is filed with.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Most attachments a new case may be filed with.
    attachments_max: int = Field(default=10, ge=0)

    # The breach scan: warnings and escalations; idempotent, so every instance may run it.
    scan_seconds: float = Field(default=30.0, gt=0)

    # Party-member life (docs/party-life.md): an attendance counts from this share of the
    # meeting's length; the learning each member owes per year (the national rule for party
    # members' education: at least 32 class hours a year).
    party_attendance_share: float = Field(default=0.5, gt=0, le=1)
    # Learning hours each party member owes per year (reported as met or not).
    party_learning_hours_per_year: float = Field(default=32.0, ge=0)
    # Member points are capped per month of the partner fact's own date (a late fact counts in
    # its month): one dated further back than this, or ahead of the cases clock by more than
    # the skew allowance, is dead-lettered (event_time_out_of_range), so a partner cannot open
    # a fresh cap with every month it makes up.
    party_event_max_age_days: float = Field(default=62.0, gt=0, le=366)
    # Minutes a party fact's date may lie ahead of the cases clock before it is
    # dead-lettered.
    party_event_max_future_minutes: float = Field(default=5.0, ge=0, le=24 * 60)
