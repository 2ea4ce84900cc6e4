from __future__ import annotations

from common.settings import ServiceSettings


class PointsSettings(ServiceSettings):
    service_name: str = "points"
    http_port: int = 8002
    mongo_db: str = "driverhome_points"
