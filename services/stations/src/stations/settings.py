from __future__ import annotations

from common.settings import ServiceSettings


class StationsSettings(ServiceSettings):
    service_name: str = "stations"
    http_port: int = 8003
    mongo_db: str = "driverhome_stations"
