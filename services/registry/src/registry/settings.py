from __future__ import annotations

from common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    http_port: int = 8001
    mongo_db: str = "driverhome_registry"
