from __future__ import annotations

from common.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = 8004
    mongo_db: str = "driverhome_notify"
