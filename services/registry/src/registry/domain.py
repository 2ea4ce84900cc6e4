"""The driver register's rules: pure, no I/O."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from common.pii import ProtectedValue

DriverStatus = Literal["active", "inactive", "deactivated"]
RegistrationChannel = Literal["self", "station", "partner", "operator"]

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province + issuing-authority letter + 5 characters (6 for new-energy plates); trailers end in 挂.
_PLATE = re.compile(
    rf"^[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5}}|[A-HJ-NP-Z0-9]{{4}}挂|[DF][A-HJ-NP-Z0-9]{{5}}|[A-HJ-NP-Z0-9]{{5}}[DF])$"
)


class RegistryError(Exception):
    """Base of the registry's domain errors."""


class InvalidDriverData(RegistryError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DriverNotFound(RegistryError):
    pass


def normalise_plate(plate: str) -> str:
    return re.sub(r"[\s·.-]", "", plate.strip()).upper()


def is_valid_plate(plate: str) -> bool:
    return bool(_PLATE.fullmatch(plate))


def new_driver_id() -> str:
    return f"drv_{uuid.uuid4().hex}"


class Driver(BaseModel):
    """A driver as the registry keeps them; sensitive values only in protected form."""

    model_config = ConfigDict(frozen=True)

    driver_id: str
    name: str
    national_id: ProtectedValue
    phone: ProtectedValue
    plate: str
    fleet: str | None = None
    status: DriverStatus = "active"
    channel: RegistrationChannel
    created_at: datetime
    updated_at: datetime
