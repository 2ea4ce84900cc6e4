from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings
from points.grades import GradePolicy


class PointsSettings(ServiceSettings):
    service_name: str = "points"
    http_port: int = 8002
    mongo_db: str = "driverhome_points"

    expiry_months: int = Field(default=24, ge=1, le=120)
    grades: GradePolicy = Field(default_factory=GradePolicy)
    # Finishing half-done entries and applying parked events whose account now exists.
    sweep_seconds: float = Field(default=5.0, gt=0)
    # Expiry and grade refresh; both idempotent, so several instances may run them.
    jobs_interval_seconds: float = Field(default=3600.0, gt=0)
