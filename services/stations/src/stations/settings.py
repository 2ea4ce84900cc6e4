from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.settings import ServiceSettings
from stations.domain import RoadClass

ROAD_SPEEDS_KMH: dict[RoadClass, float] = {
    "port": 20.0,
    "urban": 30.0,
    "arterial": 45.0,
    "expressway": 70.0,
}


class StationsSettings(ServiceSettings):
    service_name: str = "stations"
    http_port: int = 8003
    mongo_db: str = "driverhome_stations"

    # Anti-abuse: the same driver, station and service within this window counts once.
    checkin_window_minutes: float = Field(default=30.0, gt=0)
    # Faster than this between two stations is impossible travel (flagged, not announced);
    # the grace covers neighbouring stations and clock drift of kiosks.
    max_travel_kmh: float = Field(default=120.0, gt=0)
    # Kilometres allowed beyond max_travel_kmh x hours before two uses are impossible travel.
    travel_grace_km: float = Field(default=3.0, ge=0)
    # A partner's times (a kiosk's used_at, a driving report's reported_at) are the partner's
    # word, and every later judgement rests on them: the window, impossible travel, the
    # driver's last use, notify's driving state. A kiosk use older than kiosk_use_max_age_days
    # (a kiosk offline over a holiday week still reports) or either time further ahead than
    # partner_max_future_minutes (clock drift) goes to the dead-letter queue. The skew stays
    # within notify's own allowance (10 minutes, notify.driving) and points' default
    # earning_max_future_minutes, so what stations accepts is not dropped downstream.
    kiosk_use_max_age_days: float = Field(default=7.0, gt=0, le=30)
    # Minutes a partner's time may lie ahead of stations' clock; further ahead is dead-lettered.
    partner_max_future_minutes: float = Field(default=5.0, ge=0, le=10)

    # Estimated travel time for nearby results and the service circle (docs/stations.md):
    # minutes = ceil(straight km x road_factor / speed of the station's road class x 60).
    # The road is longer than the straight line by road_factor; a truck's average speed
    # depends on the road the station is reached by.
    road_factor: float = Field(default=1.3, ge=1)
    # Average truck speed (km/h) per road class; a class missing here gets the slowest listed.
    road_speeds_kmh: dict[RoadClass, Annotated[float, Field(gt=0)]] = Field(
        min_length=1,
        default_factory=lambda: dict(ROAD_SPEEDS_KMH),
    )

    def speed_of(self, road_class: RoadClass) -> float:
        """A class missing from the setting travels at the slowest configured speed."""
        return self.road_speeds_kmh.get(road_class) or min(self.road_speeds_kmh.values())

    def reach_km(self, minutes: float) -> float:
        """The straight-line distance no station beyond can be reached within ``minutes``."""
        return max(self.road_speeds_kmh.values()) * minutes / 60 / self.road_factor

    # The "15-minute service circle" (seeds/000:51, 000:141) is measured in these minutes.
    service_circle_minutes: int = Field(default=15, ge=1, le=240)

    # A unit held for a check-in that was never stored (its process died in between) goes
    # back once it has been seen so for this long (stations.holds); checked this often.
    hold_grace_minutes: float = Field(default=10.0, gt=0)
    # How often, in seconds, orphaned holds are looked for (first one interval after start).
    holds_check_seconds: float = Field(default=300.0, gt=0)

    # Activities a station may schedule per calendar month (UTC); attendance earns points.
    max_activities_per_station_month: int = Field(default=60, ge=1, le=10_000)

    # Rest nudges (stations.rest): past this many minutes of continuous driving a driver with
    # location consent is nudged once per session to the nearest station with room; a rest
    # check-in there within rest_checkin_hours earns points. Reports older than
    # rest_report_max_age_minutes carry a stale position and are ignored.
    rest_nudge_minutes: int = Field(default=240, ge=30, le=24 * 60)
    # Hours after a rest nudge within which the driver's check-in at the named station takes it
    # (rest.taken.v1, which points earns on).
    rest_checkin_hours: float = Field(default=4.0, gt=0, le=48)
    # A driving report older than this many minutes is ignored (rest nudges, driving state).
    rest_report_max_age_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    # Driving state for notify (stations.driving): a consenting driver's drive is announced at
    # its first report, then at most once per this many minutes while it lasts, and at its end.
    driving_report_every_minutes: int = Field(default=10, ge=1, le=60)
    # Radius, in km, of a nearby-stations search that gives no radius_km.
    nearby_default_radius_km: float = Field(default=15.0, gt=0)
    # Largest radius_km a nearby-stations search may ask for; also caps a search by minutes.
    nearby_max_radius_km: float = Field(default=2000.0, gt=0)
