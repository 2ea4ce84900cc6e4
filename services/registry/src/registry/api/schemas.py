from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from common.schemas import RequestModel
from registry.domain import Driver, DriverStatus, RegistrationChannel


class RegisterDriverRequest(RequestModel):
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=11, max_length=20)
    national_id: str = Field(min_length=18, max_length=18)
    plate: str = Field(min_length=7, max_length=12)
    fleet: str | None = Field(default=None, min_length=1, max_length=100)


class DriverView(BaseModel):
    """A driver as the API shows them: sensitive values masked."""

    driver_id: str
    name: str
    phone: str = Field(description="Masked, e.g. 138****5678")
    national_id: str = Field(description="Masked, e.g. 3302**********1234")
    plate: str
    fleet: str | None
    status: DriverStatus
    channel: RegistrationChannel
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, driver: Driver) -> DriverView:
        return cls(
            driver_id=driver.driver_id,
            name=driver.name,
            phone=driver.phone.masked,
            national_id=driver.national_id.masked,
            plate=driver.plate,
            fleet=driver.fleet,
            status=driver.status,
            channel=driver.channel,
            created_at=driver.created_at,
            updated_at=driver.updated_at,
        )
