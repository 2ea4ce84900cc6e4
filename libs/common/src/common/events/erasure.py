"""The answer every service gives the registry's erasure (``driver.deactivated.v1`` erased).

Each service publishes its own ``<service>.erasure_completed.v1`` on its own topic once it
holds nothing personal about the driver any more; the registry collects them into the
driver's erasure receipt. Counts and class names only: never a value that was erased.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from common.events.base import EventData


class ErasureCompleted(EventData):
    """Base of the per-service confirmations; each service's module names its type."""

    driver_id: str
    service: str = Field(description="The service that confirms (its name)")
    completed_at: AwareDatetime
    erased: dict[str, int] = Field(
        default_factory=dict,
        description="Records deleted or pseudonymised, per data class (counts only)",
    )
    kept: list[str] = Field(
        default_factory=list,
        description="Data classes kept in pseudonymous form, with no personal value in them",
    )


def completion_id(service: str, driver_id: str) -> str:
    """One id per service and driver: a repeated erasure confirms once (consumers dedupe)."""
    return f"{service}-erasure-{driver_id}"
