from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings


class StationsSettings(ServiceSettings):
    service_name: str = "stations"
    http_port: int = 8003
    mongo_db: str = "driverhome_stations"

    # Anti-abuse: the same driver, station and service within this window counts once.
    checkin_window_minutes: float = Field(default=30.0, gt=0)
    # Faster than this between two stations is impossible travel (flagged, not announced);
    # the grace covers neighbouring stations and clock drift of kiosks.
    max_travel_kmh: float = Field(default=120.0, gt=0)
    travel_grace_km: float = Field(default=3.0, ge=0)

    # Estimated travel time for nearby results: a truck's average speed in the port district
    # and how much longer the road is than the straight line.
    travel_speed_kmh: float = Field(default=30.0, gt=0)
    road_factor: float = Field(default=1.3, ge=1)

    # Activities a station may schedule per calendar month (UTC); attendance earns points.
    max_activities_per_station_month: int = Field(default=60, ge=1, le=10_000)

    nearby_default_radius_km: float = Field(default=15.0, gt=0)
    nearby_max_radius_km: float = Field(default=2000.0, gt=0)
